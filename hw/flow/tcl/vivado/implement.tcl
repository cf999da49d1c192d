# Vivado step 2: synthesis, implementation, bitstream, then the reports that the build JSON is
# made from (utilization, timing summary). Timing is judged by hw/flow/reports.py (WNS >= 0).

foreach v {vivado_project vivado_dir jobs report_dir} {
    if {![info exists $v]} {
        puts stderr "ERROR: implement.tcl: variable '$v' is not set (source the generated config.tcl first)"
        exit 2
    }
}

proc sn_check_run {run} {
    set progress [get_property PROGRESS [get_runs $run]]
    set status [get_property STATUS [get_runs $run]]
    if {$progress ne "100%"} {
        error "run $run stopped at $progress: $status (see the run's log under [get_property DIRECTORY [get_runs $run]])"
    }
}

proc sn_implement {} {
    global vivado_project vivado_dir jobs report_dir
    open_project [file join $vivado_dir ${vivado_project}.xpr]
    reset_run synth_1
    launch_runs synth_1 -jobs $jobs
    wait_on_run synth_1
    sn_check_run synth_1

    launch_runs impl_1 -to_step write_bitstream -jobs $jobs
    wait_on_run impl_1
    sn_check_run impl_1

    open_run impl_1
    file mkdir $report_dir
    report_utilization -file [file join $report_dir utilization.rpt]
    report_utilization -hierarchical -file [file join $report_dir utilization_hier.rpt]
    report_timing_summary -max_paths 10 -file [file join $report_dir timing_summary.rpt]
    # vectorless power estimate of the routed design (the only power figure short of a board measurement)
    report_power -file [file join $report_dir power.rpt]
    close_project
}

if {[catch {sn_implement} msg]} {
    puts stderr "ERROR: Vivado implementation failed: $msg"
    exit 1
}
puts "SN_BUILD: bitstream done"
exit 0
