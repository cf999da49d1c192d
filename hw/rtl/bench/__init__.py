"""The cocotb benches of the Fire-module RTL (fire_bench: the project's RTL; hls_bench: Vitis-HLS
exported RTL) and their runner (simrun: cocotb's Python runner on Icarus). A package, so that the
regression (tests/rtl) and the reports (scripts/rtl_report.py, scripts/check_hls_rtl.py) import the
same installed code and the simulator's Python finds the bench by its module name."""
