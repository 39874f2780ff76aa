"""MAE-ST: Masked Autoencoders As Spatiotemporal Learners, native to Hugging Face transformers."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
)

from .configuration_mae_st import MAESTConfig
from .data import (
    BadVideoTracker,
    TooManyBadVideosError,
    VideoClipTransform,
    build_video_dataloader,
    collate_video_clips,
    get_label_names,
    label_mappings,
    load_video_dataset,
    load_video_folder,
    load_video_index,
    prepare_video_dataset,
)
from .modeling_mae_st import (
    AUTO_CLASSES,
    MAESTForPreTraining,
    MAESTForVideoClassification,
    MAESTModel,
    MAESTPreTrainedModel,
)
from .synthetic import make_synthetic_pretraining_videos, make_synthetic_video_dataset
from .video_decoding import VideoDecodingError, VideoInfo, decode_frames, open_video, read_video_info
from .video_processing_mae_st import MAESTVideoProcessor


AutoConfig.register(MAESTConfig.model_type, MAESTConfig, exist_ok=True)
AutoModel.register(MAESTConfig, MAESTModel, exist_ok=True)
AutoModelForPreTraining.register(MAESTConfig, MAESTForPreTraining, exist_ok=True)
AutoModelForVideoClassification.register(MAESTConfig, MAESTForVideoClassification, exist_ok=True)
# Every `save_pretrained` (by hand, the Trainer's checkpoints, `push_to_hub`) copies the code `trust_remote_code` runs
# beside what it saves and names it in `auto_map`, as transformers does for custom models: a folder saved by hand
# from a loaded one kept the `auto_map` entries without the code they name (an OSError under trust_remote_code).
MAESTConfig.register_for_auto_class()
for auto_class, model_class in AUTO_CLASSES.items():
    model_class.register_for_auto_class(auto_class)
MAESTVideoProcessor.register_for_auto_class("AutoVideoProcessor")

__version__ = "0.1.0"
