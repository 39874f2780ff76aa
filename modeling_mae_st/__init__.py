"""MAE-ST: Masked Autoencoders As Spatiotemporal Learners, native to Hugging Face transformers."""

from .configuration_mae_st import MAESTConfig
from .modeling_mae_st import (
    MAESTForPreTraining,
    MAESTForVideoClassification,
    MAESTModel,
    MAESTPreTrainedModel,
)

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
)

AutoConfig.register(MAESTConfig.model_type, MAESTConfig, exist_ok=True)
AutoModel.register(MAESTConfig, MAESTModel, exist_ok=True)
AutoModelForPreTraining.register(MAESTConfig, MAESTForPreTraining, exist_ok=True)
AutoModelForVideoClassification.register(MAESTConfig, MAESTForVideoClassification, exist_ok=True)

# --- video data (issue 3) ---

# --- end video data ---

__version__ = "0.1.0"
