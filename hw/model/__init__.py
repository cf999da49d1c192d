"""Model step: SqueezeNet/Fire builders (float and HGQ2 forms) and training (hw.model.train).

The names below come from hw.model.squeezenet, which imports Keras/TensorFlow; they are loaded on
first use (PEP 562), so that `python -m hw.model.<cli>` can silence TensorFlow's start-up output
(hw.quiet) before anything imports it.
"""
_EXPORTS = ("DEFAULT_ARCH", "VARIANTS", "ArchSpec", "FireSpec", "ModelError", "QuantSpec", "build_squeezenet",
            "conv_macs", "fire_module", "load_model", "squeezenet_v1_0", "squeezenet_v1_1")
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        from hw.model import squeezenet

        return getattr(squeezenet, name)
    raise AttributeError(f"module 'hw.model' has no attribute {name!r}")
