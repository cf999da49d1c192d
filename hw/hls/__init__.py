"""hls4ml step: config validation (config), stream contract (contract), conversion (convert), FIFO
depths (fifo), the AXI top's C-simulation library (axi_library) and the one hls4ml patch (patches).
The command line (`python -m hw.hls`, hw.hls.cli) is the one module here that also uses the planner."""
from hw.hls.axi_library import PROJECT_HEADER, build_axi_library, install_wrapper  # noqa: F401
from hw.hls.config import (ConfigError, HlsConfig, HlsError, check_against_model, closest_reuse_factor,  # noqa: F401
                           load_config, parse_config, valid_reuse_factors, write_layer_settings, write_reuse)
from hw.hls.contract import (DEFAULT_CONTRACT, ContractError, StreamContract, StreamFormats, io_spec,  # noqa: F401
                             project_header, stream_formats)
from hw.hls.convert import (class_names, compile_csim, convert, convert_graph, convert_keras, csim_predict,  # noqa: F401
                            read_io_spec, to_raw)
from hw.hls.fifo import apply_stream_depths  # noqa: F401
