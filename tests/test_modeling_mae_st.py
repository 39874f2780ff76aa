"""
transformers' common model tests (`ModelTesterMixin`, `ConfigTester`) on [`MAESTModel`], [`MAESTForPreTraining`]
and [`MAESTForVideoClassification`], used as transformers' own ViTMAE and VideoMAE tests use them
(`tests/models/vit_mae/test_modeling_vit_mae.py`, `tests/models/videomae/test_modeling_videomae.py`).

The common tests come from the installed transformers version's sdist: run `python tests/fetch_transformers_tests.py`
once (it fills the git-ignored `.transformers_tests/`).

Masking: `MAESTModel` masks only when asked to, `MAESTForPreTraining` always masks, with random noise unless it is
given `noise`. As the VideoMAE tests give their pretraining model a fixed `bool_masked_pos`, `_prepare_for_class` gives
`MAESTForPreTraining` a fixed `noise`; so the tests ViTMAE skips for its random mask (`test_determinism`,
`test_model_outputs_equivalence`, `test_batching_equivalence`) run here unchanged.

Overridden, as in the peers:
- `test_model_get_set_embeddings` (ViTMAE and VideoMAE): the input embeddings are a patch embedding, not an
  `nn.Embedding`.
- `test_attention_outputs`, `test_hidden_states_output` (VideoMAE): the pretraining model encodes only the visible
  patches, so its sequence is shorter than the other models'.
- `ConfigTester(..., hidden_size=32)` as VideoMAE (ViTMAE's 37 is refused by `MAESTConfig`: not divisible by the
  default 16 heads).

Skipped, each with the peer's reason:
- `test_inputs_embeds`: ViTMAE and VideoMAE, "does not use inputs_embeds".
- `test_flash_attn_2_inference_equivalence_right_padding`: ViTMAE and VideoMAE, "Not applicable" (no padding).

Nothing else is skipped. `get_video_features` follows transformers' convention (a `ModelOutput` with
`pooler_output`), and its common tests run on `pixel_values` through `video_model_tester`.
"""

import copy
import unittest
from unittest import mock

import torch
import transformers
from torch import nn
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_PRETRAINING_MAPPING_NAMES,
    MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES,
    MODEL_MAPPING_NAMES,
)
from transformers.testing_utils import require_torch, torch_device

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification, MAESTModel


try:
    import transformers_tests
    from transformers_tests.test_configuration_common import ConfigTester
    from transformers_tests.test_modeling_common import ModelTesterMixin, floats_tensor, ids_tensor
except ModuleNotFoundError as error:
    if error.name is None or not error.name.startswith("transformers_tests"):
        raise
    raise ImportError(
        "transformers' common model tests are missing from .transformers_tests/: run "
        "`python tests/fetch_transformers_tests.py` first."
    ) from error

if transformers_tests.transformers_version != transformers.__version__:
    raise ImportError(
        f".transformers_tests/ holds the common tests of transformers {transformers_tests.transformers_version}, but "
        f"transformers {transformers.__version__} is installed: run `python tests/fetch_transformers_tests.py` again."
    )




class MAESTModelTester:
    def __init__(
        self,
        parent,
        batch_size=13,
        image_size=16,
        patch_size=8,
        num_channels=3,
        num_frames=4,
        tubelet_size=2,
        pred_t_dim=2,
        is_training=True,
        use_labels=True,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=4,
        decoder_intermediate_size=20,
        type_sequence_label_size=10,
        initializer_range=0.02,
        mask_ratio=0.5,
        attn_implementation="eager",
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.pred_t_dim = pred_t_dim
        self.is_training = is_training
        self.use_labels = use_labels
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_num_hidden_layers = decoder_num_hidden_layers
        self.decoder_num_attention_heads = decoder_num_attention_heads
        self.decoder_intermediate_size = decoder_intermediate_size
        self.type_sequence_label_size = type_sequence_label_size
        self.initializer_range = initializer_range
        self.mask_ratio = mask_ratio
        self.attn_implementation = attn_implementation

        # spacetime patches, time-major; the sequence is the cls token and then every patch
        self.num_patches = (num_frames // tubelet_size) * (image_size // patch_size) ** 2
        self.seq_length = self.num_patches + 1
        # the pretraining model keeps int(num_patches * (1 - mask_ratio)) patches; a `bool_masked_pos` built by the
        # common tests from `num_masks` over `mask_length` (the patches, without the cls token) hides as many
        self.num_visible = int(self.num_patches * (1 - mask_ratio))
        self.num_masks = self.num_patches - self.num_visible
        self.mask_length = self.num_patches

    def prepare_config_and_inputs(self):
        pixel_values = floats_tensor(
            [self.batch_size, self.num_frames, self.num_channels, self.image_size, self.image_size]
        )
        labels = ids_tensor([self.batch_size], self.type_sequence_label_size) if self.use_labels else None
        return self.get_config(), pixel_values, labels

    def get_config(self):
        return MAESTConfig(
            image_size=self.image_size,
            patch_size=self.patch_size,
            num_channels=self.num_channels,
            num_frames=self.num_frames,
            tubelet_size=self.tubelet_size,
            pred_t_dim=self.pred_t_dim,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            decoder_hidden_size=self.decoder_hidden_size,
            decoder_num_hidden_layers=self.decoder_num_hidden_layers,
            decoder_num_attention_heads=self.decoder_num_attention_heads,
            decoder_intermediate_size=self.decoder_intermediate_size,
            initializer_range=self.initializer_range,
            mask_ratio=self.mask_ratio,
            num_labels=self.type_sequence_label_size,
            attn_implementation=self.attn_implementation,
        )

    def noise(self, batch_size):
        """Fixed masking noise `(batch, num_patches)`: the same mask on every call."""
        generator = torch.Generator().manual_seed(0)
        return torch.rand(batch_size, self.num_patches, generator=generator).to(torch_device)

    def create_and_check_model(self, config, pixel_values, labels):
        model = MAESTModel(config).to(torch_device).eval()
        result = model(pixel_values)
        self.parent.assertEqual(result.last_hidden_state.shape, (self.batch_size, self.seq_length, self.hidden_size))
        self.parent.assertEqual(result.pooler_output.shape, (self.batch_size, self.hidden_size))
        self.parent.assertIsNone(result.mask)

    def create_and_check_for_pretraining(self, config, pixel_values, labels):
        model = MAESTForPreTraining(config).to(torch_device).eval()
        result = model(pixel_values)
        pixels_per_patch = config.predicted_frames_per_token * self.patch_size**2 * self.num_channels
        self.parent.assertEqual(result.logits.shape, (self.batch_size, self.num_patches, pixels_per_patch))
        self.parent.assertEqual(result.mask.sum(dim=1).tolist(), [self.num_masks] * self.batch_size)
        self.parent.assertEqual(result.loss.shape, ())

        # greyscale videos
        config = copy.deepcopy(config)
        config.num_channels = 1
        model = MAESTForPreTraining(config).to(torch_device).eval()
        pixel_values = floats_tensor([self.batch_size, self.num_frames, 1, self.image_size, self.image_size])
        result = model(pixel_values)
        pixels_per_patch = config.predicted_frames_per_token * self.patch_size**2
        self.parent.assertEqual(result.logits.shape, (self.batch_size, self.num_patches, pixels_per_patch))

    def create_and_check_for_video_classification(self, config, pixel_values, labels):
        model = MAESTForVideoClassification(config).to(torch_device).eval()
        result = model(pixel_values, labels=labels)
        self.parent.assertEqual(result.logits.shape, (self.batch_size, self.type_sequence_label_size))
        self.parent.assertEqual(result.loss.shape, ())

    def prepare_config_and_inputs_for_common(self):
        config, pixel_values, _ = self.prepare_config_and_inputs()
        return config, {"pixel_values": pixel_values}


@require_torch
class MAESTModelTest(ModelTesterMixin, unittest.TestCase):
    """
    The common tests, with overrides for what MAE-ST does not share with text models (input_ids, inputs_embeds,
    attention_mask), as the ViTMAE and VideoMAE tests do.
    """

    all_model_classes = (MAESTModel, MAESTForPreTraining, MAESTForVideoClassification)

    test_resize_embeddings = False
    # test_can_init_all_missing_weights dates a model by a `# Copyright YYYY` line, which our files do not have, and
    # skips models older than 2023 unless told to run: run it, MAE-ST's `_init_weights` covers every weight
    test_can_init_all_missing_weights_before_2023 = True

    def setUp(self):
        self.model_tester = MAESTModelTester(self)
        # `get_video_features` takes `pixel_values`, like the models: a video_model_tester keeps the common tests from
        # renaming the input to `pixel_values_videos` (a copy, since the common tests recurse through this attribute)
        self.model_tester.video_model_tester = copy.copy(self.model_tester)
        self.config_tester = ConfigTester(self, config_class=MAESTConfig, has_text_modality=False, hidden_size=32)
        # The common tests tell a base model (no loss: not trained) from a classifier (given labels, reloaded with
        # another num_labels) by looking up class names in transformers' auto name mappings, where an in-tree model
        # like VideoMAE is listed. MAE-ST is registered with the Auto classes at runtime instead, so it is listed
        # there for the duration of each test.
        for names, model_class in (
            (MODEL_MAPPING_NAMES, MAESTModel),
            (MODEL_FOR_PRETRAINING_MAPPING_NAMES, MAESTForPreTraining),
            (MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES, MAESTForVideoClassification),
        ):
            patcher = mock.patch.dict(names, {MAESTConfig.model_type: model_class.__name__})
            patcher.start()
            self.addCleanup(patcher.stop)

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if "bool_masked_pos" in inputs_dict:
            # transformers' eager-vs-sdpa test gives both `bool_masked_pos` and `noise` to a model that takes both;
            # MAE-ST refuses the pair (the fixed mask would silently win), so the test's fixed mask goes alone.
            inputs_dict.pop("noise", None)
        elif model_class is MAESTForPreTraining:
            inputs_dict["noise"] = self.model_tester.noise(inputs_dict["pixel_values"].shape[0])
        return inputs_dict

    def _seq_length(self, model_class):
        """Encoder tokens: cls and the visible patches for the pretraining model, cls and every patch otherwise."""
        if model_class is MAESTForPreTraining:
            return self.model_tester.num_visible + 1
        return self.model_tester.seq_length

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_model(self):
        self.model_tester.create_and_check_model(*self.model_tester.prepare_config_and_inputs())

    def test_for_pretraining(self):
        self.model_tester.create_and_check_for_pretraining(*self.model_tester.prepare_config_and_inputs())

    def test_for_video_classification(self):
        self.model_tester.create_and_check_for_video_classification(*self.model_tester.prepare_config_and_inputs())

    @unittest.skip(reason="MAE-ST does not use inputs_embeds")
    def test_inputs_embeds(self):
        pass

    @unittest.skip(reason="Not applicable for MAE-ST")
    def test_flash_attn_2_inference_equivalence_right_padding(self):
        pass

    def test_model_get_set_embeddings(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertIsInstance(model.get_input_embeddings(), nn.Module)
            output_embeddings = model.get_output_embeddings()
            self.assertTrue(output_embeddings is None or isinstance(output_embeddings, nn.Linear))

    def test_attention_outputs(self):
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        config.return_dict = True
        for model_class in self.all_model_classes:
            seq_length = self._seq_length(model_class)
            expected_shape = [self.model_tester.num_attention_heads, seq_length, seq_length]

            inputs_dict["output_attentions"] = True
            inputs_dict["output_hidden_states"] = False
            model = model_class(config).to(torch_device).eval()
            with torch.no_grad():
                outputs = model(**self._prepare_for_class(inputs_dict, model_class))
            self.assertEqual(len(outputs.attentions), self.model_tester.num_hidden_layers)

            # output_attentions from the config
            del inputs_dict["output_attentions"]
            config.output_attentions = True
            model = model_class(config).to(torch_device).eval()
            with torch.no_grad():
                outputs = model(**self._prepare_for_class(inputs_dict, model_class))
            self.assertEqual(len(outputs.attentions), self.model_tester.num_hidden_layers)
            self.assertListEqual(list(outputs.attentions[0].shape[-3:]), expected_shape)
            out_len = len(outputs)

            # attentions come last, after the hidden states
            inputs_dict["output_attentions"] = True
            inputs_dict["output_hidden_states"] = True
            model = model_class(config).to(torch_device).eval()
            with torch.no_grad():
                outputs = model(**self._prepare_for_class(inputs_dict, model_class))
            self.assertEqual(out_len + 1, len(outputs))
            self.assertEqual(len(outputs.attentions), self.model_tester.num_hidden_layers)
            self.assertListEqual(list(outputs.attentions[0].shape[-3:]), expected_shape)
            config.output_attentions = False

    def test_hidden_states_output(self):
        def check_hidden_states_output(inputs_dict, config, model_class):
            model = model_class(config).to(torch_device).eval()
            with torch.no_grad():
                outputs = model(**self._prepare_for_class(inputs_dict, model_class))
            self.assertEqual(len(outputs.hidden_states), self.model_tester.num_hidden_layers + 1)
            expected_shape = [self._seq_length(model_class), self.model_tester.hidden_size]
            self.assertListEqual(list(outputs.hidden_states[0].shape[-2:]), expected_shape)

        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            inputs_dict["output_hidden_states"] = True
            check_hidden_states_output(inputs_dict, config, model_class)

            # output_hidden_states from the config
            del inputs_dict["output_hidden_states"]
            config.output_hidden_states = True
            check_hidden_states_output(inputs_dict, config, model_class)
            config.output_hidden_states = False
