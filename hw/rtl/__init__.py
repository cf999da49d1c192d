"""Fire-module RTL (fire.v, fire_mvu.v) and its parameter/ROM generator (hw.rtl.generate)."""
