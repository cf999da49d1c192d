"""SqueezeNet-on-PYNQ-Z2 hardware side: data, model, training, hls4ml conversion, golden model, budget."""
