"""The ZKsync OS devnet: the L1 deployment on anvil and the node stand-in."""
