"""Head decoders: each family's raw network output brought to the shared row layout."""
