"""MAE-ST: Masked Autoencoders As Spatiotemporal Learners, native to Hugging Face transformers."""

from .configuration_mae_st import MAESTConfig
from .modeling_mae_st import (
    MAESTForPreTraining,
    MAESTForVideoClassification,
    MAESTModel,
    MAESTPreTrainedModel,
)

# --- video data (issue 3) ---

# --- end video data ---

__version__ = "0.1.0"
