"""Off-board emulation of the accelerator and the board, for development machines only (needs hw/,
hls4ml, g++; the emulated PYNQ-Z2 needs pynq). The board runtime (host/*.py) never imports it except
where the user asks for the emulator; a board needs none of these files."""
