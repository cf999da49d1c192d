# PYNQ-Z2 block design: Zynq PS7 (board preset, FCLK_CLK0 = accelerator clock, M_AXI_GP0 and
# S_AXI_HP0 enabled), AXI DMA without scatter-gather on S_AXI_HP0 through a SmartConnect, the HLS
# accelerator's AXI4-Lite control on M_AXI_GP0 through an AXI interconnect, one proc_sys_reset.
#   DMA MM2S -> accelerator <in_port>;  accelerator <out_port> -> DMA S2MM (TLAST ends the batch).
# Every name (IP VLNV, instance names, stream ports) comes from config.tcl, written from the io spec
# that host/driver.py reads.

proc sn_create_block_design {} {
    global bd_name top ip_name ip_vendor ip_library ip_version dma_name in_port out_port ctrl_intf \
        in_beat_bits out_beat_bits fclk_mhz sg_length_width hp_data_bits

    create_bd_design $bd_name

    # --- Zynq processing system ---------------------------------------------------------------
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
    set_property -dict [list \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz \
        CONFIG.PCW_USE_M_AXI_GP0 {1} \
        CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH $hp_data_bits] $ps

    # --- reset, DMA, accelerator, interconnects -----------------------------------------------
    set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 rst_ps7_0]

    set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 $dma_name]
    set_property -dict [list \
        CONFIG.c_s_axis_s2mm_tdata_width.VALUE_SRC USER \
        CONFIG.c_m_axis_mm2s_tdata_width.VALUE_SRC USER] $dma
    set_property -dict [list \
        CONFIG.c_include_sg {0} \
        CONFIG.c_sg_length_width $sg_length_width \
        CONFIG.c_sg_include_stscntrl_strm {0} \
        CONFIG.c_include_mm2s {1} \
        CONFIG.c_include_s2mm {1} \
        CONFIG.c_m_axi_mm2s_data_width $hp_data_bits \
        CONFIG.c_m_axis_mm2s_tdata_width $in_beat_bits \
        CONFIG.c_mm2s_burst_size {16} \
        CONFIG.c_m_axi_s2mm_data_width $hp_data_bits \
        CONFIG.c_s_axis_s2mm_tdata_width $out_beat_bits \
        CONFIG.c_s2mm_burst_size {16}] $dma

    set acc [create_bd_cell -type ip -vlnv ${ip_vendor}:${ip_library}:${top}:${ip_version} $ip_name]

    set gp [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 ps7_0_axi_periph]
    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {2}] $gp

    set smc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 axi_smc]
    set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $smc

    # --- AXI4-Lite control: PS M_AXI_GP0 -> DMA registers, accelerator registers -----------------
    connect_bd_intf_net [get_bd_intf_pins processing_system7_0/M_AXI_GP0] [get_bd_intf_pins ps7_0_axi_periph/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins ps7_0_axi_periph/M00_AXI] [get_bd_intf_pins $dma_name/S_AXI_LITE]
    connect_bd_intf_net [get_bd_intf_pins ps7_0_axi_periph/M01_AXI] [get_bd_intf_pins $ip_name/$ctrl_intf]

    # --- DMA memory side: MM2S and S2MM -> SmartConnect -> PS S_AXI_HP0 (DDR) -------------------
    connect_bd_intf_net [get_bd_intf_pins $dma_name/M_AXI_MM2S] [get_bd_intf_pins axi_smc/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins $dma_name/M_AXI_S2MM] [get_bd_intf_pins axi_smc/S01_AXI]
    connect_bd_intf_net [get_bd_intf_pins axi_smc/M00_AXI] [get_bd_intf_pins processing_system7_0/S_AXI_HP0]

    # --- streams ----------------------------------------------------------------------------------
    connect_bd_intf_net [get_bd_intf_pins $dma_name/M_AXIS_MM2S] [get_bd_intf_pins $ip_name/$in_port]
    connect_bd_intf_net [get_bd_intf_pins $ip_name/$out_port] [get_bd_intf_pins $dma_name/S_AXIS_S2MM]

    # --- one clock (FCLK_CLK0) and one reset domain -----------------------------------------------
    connect_bd_net [get_bd_pins processing_system7_0/FCLK_CLK0] \
        [get_bd_pins processing_system7_0/M_AXI_GP0_ACLK] \
        [get_bd_pins processing_system7_0/S_AXI_HP0_ACLK] \
        [get_bd_pins rst_ps7_0/slowest_sync_clk] \
        [get_bd_pins $dma_name/s_axi_lite_aclk] \
        [get_bd_pins $dma_name/m_axi_mm2s_aclk] \
        [get_bd_pins $dma_name/m_axi_s2mm_aclk] \
        [get_bd_pins $ip_name/ap_clk] \
        [get_bd_pins ps7_0_axi_periph/ACLK] \
        [get_bd_pins ps7_0_axi_periph/S00_ACLK] \
        [get_bd_pins ps7_0_axi_periph/M00_ACLK] \
        [get_bd_pins ps7_0_axi_periph/M01_ACLK] \
        [get_bd_pins axi_smc/aclk]
    connect_bd_net [get_bd_pins processing_system7_0/FCLK_RESET0_N] [get_bd_pins rst_ps7_0/ext_reset_in]
    connect_bd_net [get_bd_pins rst_ps7_0/interconnect_aresetn] \
        [get_bd_pins ps7_0_axi_periph/ARESETN] \
        [get_bd_pins axi_smc/aresetn]
    connect_bd_net [get_bd_pins rst_ps7_0/peripheral_aresetn] \
        [get_bd_pins $dma_name/axi_resetn] \
        [get_bd_pins $ip_name/ap_rst_n] \
        [get_bd_pins ps7_0_axi_periph/S00_ARESETN] \
        [get_bd_pins ps7_0_axi_periph/M00_ARESETN] \
        [get_bd_pins ps7_0_axi_periph/M01_ARESETN]

    # --- addresses (DMA and accelerator on GP0, DDR for the DMA), check, save ----------------------
    assign_bd_address
    validate_bd_design
    save_bd_design
}
