"""On-chip planner: the network as hls4ml built it (graph), per-layer cost (cost), folding
optimizer (optimize), ImageNet refusals (imagenet), CLI (`python -m hw.plan`)."""
from hw.hls.config import closest_reuse_factor, valid_reuse_factors  # noqa: F401
from hw.plan.cli import check_design, main  # noqa: F401
from hw.plan.cost import DEFAULT_FIFO, FIFO_MODES, Plan, cost_layer, fifo_depths  # noqa: F401
from hw.plan.graph import Layer, from_config, from_keras, layers_from_hls  # noqa: F401
from hw.plan.optimize import optimize, plan, uniform_baseline  # noqa: F401
from hw.plan.rate import planned_rate  # noqa: F401
from hw.plan.resources import (BRAM18_BITS, BRAM18_SHAPES, STORAGE, Budget, BudgetError, CycleModel,  # noqa: F401
                               MultRule, StorageRule, fifo_cost, memory_bram18)
