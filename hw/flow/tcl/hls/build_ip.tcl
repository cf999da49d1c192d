# Vitis HLS batch flow: C simulation against the build's test vectors, C synthesis, IP export.
#
# Settings come from the generated config.tcl that hw/flow/tclgen.py writes from the io spec
# (the one source of names for the IP, the block design and the PYNQ driver); the generated
# <out>/tcl/hls_*.tcl sources config.tcl and then this file. Run with
#   vitis-run --mode hls --tcl <out>/tcl/hls_ip.tcl      (2023.2 and newer)
#   vitis_hls -f <out>/tcl/hls_ip.tcl                    (until 2024.2)
# Any error (a failing C simulation included) ends the tool with a non-zero exit status.

foreach v {hls_project top part clock_ns clock_uncertainty design_files tb_files cflags tb_cflags
           run_csim run_cosim csim_argv export_format ip_vendor ip_library ip_version} {
    if {![info exists $v]} {
        puts stderr "ERROR: build_ip.tcl: variable '$v' is not set (source the generated config.tcl first)"
        exit 2
    }
}

proc sn_hls_flow {} {
    global hls_project top part clock_ns clock_uncertainty design_files tb_files cflags tb_cflags \
        run_csim run_cosim csim_argv export_format ip_vendor ip_library ip_version

    open_project -reset $hls_project
    set_top $top
    foreach f $design_files {
        add_files $f -cflags $cflags
    }
    foreach f $tb_files {
        add_files -tb $f -cflags $tb_cflags
    }
    open_solution -reset solution1 -flow_target vivado
    set_part $part
    create_clock -period $clock_ns -name default
    set_clock_uncertainty $clock_uncertainty default
    config_compile -name_max_length 80
    # Reset the initialised static state too (hls4ml's line-buffer position counters, pX/pY/sX/sY):
    # with Vitis's default `-reset control` they keep their mid-image values through ap_rst_n, and
    # the real Vitis HLS 2023.2 LeNet-5 RTL run under cocotb (scripts/check_hls_rtl.py) misaligns
    # every image after a reset in the middle of one.
    config_rtl -reset state

    if {$run_csim} {
        puts "SN_BUILD: C simulation"
        csim_design -argv $csim_argv
    }
    puts "SN_BUILD: C synthesis"
    csynth_design
    if {$run_cosim} {
        # optional (--cosim): the synthesized RTL of the AXI top against the same testbench and vectors;
        # its report (sim/report/<top>_cosim.rpt) gives the measured latency and interval per image
        puts "SN_BUILD: C/RTL co-simulation"
        cosim_design -rtl verilog -trace_level none -argv $csim_argv
    }
    puts "SN_BUILD: export ($export_format, Verilog)"
    export_design -format $export_format -rtl verilog \
        -vendor $ip_vendor -library $ip_library -version $ip_version -ipname $top
    close_project
}

if {[catch {sn_hls_flow} msg]} {
    puts stderr "ERROR: Vitis HLS flow failed: $msg"
    exit 1
}
puts "SN_BUILD: HLS flow done"
exit 0
