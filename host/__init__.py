"""Host side: PYNQ driver, off-board emulator and the infer CLI (numpy, pillow, pynq, stdlib only)."""
