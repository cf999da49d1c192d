# Stub interpreter for the build's Tcl (tests/test_build.py): every Vivado / Vitis HLS command that
# the scripts may use is a recording stub from an explicit allow-list; any other unknown command
# fails the run. After sourcing the scripts, the recorded calls are written as one Tcl list per line.
#
# usage: tclsh tcl_stub.tcl <record_file> <script.tcl> [<proc to call>] [<more scripts>...]

set allowed {
    open_project set_top add_files open_solution set_part create_clock set_clock_uncertainty
    config_compile config_rtl csim_design csynth_design cosim_design export_design close_project
    create_project set_param set_property current_project update_ip_catalog get_files generate_target
    make_wrapper current_fileset update_compile_order create_bd_design create_bd_cell apply_bd_automation
    connect_bd_intf_net connect_bd_net get_bd_intf_pins get_bd_pins get_bd_cells assign_bd_address
    validate_bd_design save_bd_design reset_run launch_runs wait_on_run get_runs get_property open_run
    report_utilization report_timing_summary report_power get_parts get_board_parts
}
set ::calls {}

foreach cmd $allowed {
    proc $cmd {args} [string map [list @CMD@ $cmd] {
        lappend ::calls [linsert $args 0 @CMD@]
        switch -- @CMD@ {
            create_bd_cell     { return [lindex $args end] }
            get_bd_pins        { return [lindex $args end] }
            get_bd_intf_pins   { return [lindex $args end] }
            get_bd_cells       { return [lindex $args end] }
            get_files          { return [lindex $args end] }
            get_runs           { return [lindex $args end] }
            make_wrapper       { return "wrapper.v" }
            get_property {
                switch -- [lindex $args 0] {
                    PROGRESS  { return "100%" }
                    STATUS    { return "write_bitstream Complete!" }
                    DIRECTORY { return "runs" }
                }
                return ""
            }
            get_parts          { return [lindex $args end] }
            get_board_parts    { return [lindex $args end] }
        }
        return ""
    }]
}

# Not allowed: anything else that is not a Tcl built-in. `exit` is recorded and stops sourcing.
rename unknown _tcl_unknown
proc unknown {args} {
    puts stderr "NOT ALLOWED: [lindex $args 0]"
    exit 3
}
rename exit _tcl_exit
proc exit {{code 0}} {
    lappend ::calls [list exit $code]
    _sn_dump
    _tcl_exit $code
}

proc _sn_dump {} {
    set f [open $::record_file w]
    foreach c $::calls { puts $f $c }
    close $f
}

set record_file [lindex $argv 0]
set scripts [lrange $argv 1 end]
set argv {}
foreach s $scripts {
    if {[file exists $s]} {
        source $s
    } else {
        $s
    }
}
_sn_dump
_tcl_exit 0
