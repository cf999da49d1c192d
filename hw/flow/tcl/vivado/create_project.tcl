# Vivado step 1: project for the PYNQ-Z2, the HLS IP in the catalog, the block design, its HDL
# wrapper as top. Settings from the generated config.tcl (sourced first by <out>/tcl/vivado_project.tcl).

foreach v {vivado_project vivado_dir part board_part board_repo ip_repo bd_name script_dir} {
    if {![info exists $v]} {
        puts stderr "ERROR: create_project.tcl: variable '$v' is not set (source the generated config.tcl first)"
        exit 2
    }
}

proc sn_create_project {} {
    global vivado_project vivado_dir part board_part board_repo ip_repo bd_name script_dir
    if {$board_repo ne ""} {
        set_param board.repoPaths [list $board_repo]
    }
    create_project -force $vivado_project $vivado_dir -part $part
    set_property board_part $board_part [current_project]
    set_property ip_repo_paths [list $ip_repo] [current_project]
    update_ip_catalog

    source [file join $script_dir block_design.tcl]
    sn_create_block_design

    set bd_file [get_files ${bd_name}.bd]
    generate_target all $bd_file
    set wrapper [make_wrapper -files $bd_file -top]
    add_files -norecurse $wrapper
    set_property top ${bd_name}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
    close_project
}

if {[catch {sn_create_project} msg]} {
    puts stderr "ERROR: block design / project creation failed: $msg"
    exit 1
}
puts "SN_BUILD: Vivado project and block design done"
exit 0
