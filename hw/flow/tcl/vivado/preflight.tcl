# Preflight query: is the part (and the PYNQ-Z2 board definition) installed in this Vivado?
# Usage: vivado -mode batch -source preflight.tcl -tclargs <part> <board_part> [<board_repo>]
# Prints one "PREFLIGHT <what> <name> ok|missing" line per item; hw/flow/preflight.py reads them.
set part [lindex $argv 0]
set board_part [lindex $argv 1]
set board_repo [lindex $argv 2]
if {$board_repo ne ""} {
    set_param board.repoPaths [list $board_repo]
}
if {[llength [get_parts -quiet $part]] > 0} {
    puts "PREFLIGHT part $part ok"
} else {
    puts "PREFLIGHT part $part missing"
}
if {[llength [get_board_parts -quiet $board_part]] > 0} {
    puts "PREFLIGHT board $board_part ok"
} else {
    puts "PREFLIGHT board $board_part missing"
}
