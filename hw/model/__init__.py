"""Model step: SqueezeNet/Fire builders (float and HGQ2 forms) and training (hw.model.train)."""
from hw.model.squeezenet import (DEFAULT_ARCH, VARIANTS, ArchSpec, FireSpec, ModelError, QuantSpec,  # noqa: F401
                                 build_squeezenet, conv_macs, fire_module, load_model, squeezenet_v1_0,
                                 squeezenet_v1_1)
