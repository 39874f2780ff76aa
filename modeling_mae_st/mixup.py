"""
Mixup and CutMix for video clips, with label smoothing and soft targets: the batch-level augmentation of the official
fine-tuning recipe (facebookresearch/mae_st `util/decoder/mixup.py`, after timm).

One mixing coefficient is drawn per batch; each clip is mixed with the clip at the mirrored position of the batch
(`clips.flip(0)`). CutMix pastes the same box into every frame, so a mixed clip is still one coherent video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def smooth_one_hot(labels: torch.Tensor, num_labels: int, smoothing: float = 0.0) -> torch.Tensor:
    """
    Class indices `(batch,)` to soft targets `(batch, num_labels)`: `1 - smoothing + smoothing / num_labels` on the
    true class and `smoothing / num_labels` elsewhere (each row sums to 1).
    """
    off_value = smoothing / num_labels
    targets = torch.full((labels.shape[0], num_labels), off_value, device=labels.device)
    return targets.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off_value)


@dataclass
class VideoMixup:
    """
    Mix a batch of clips and return soft targets.

    Args:
        num_labels: number of classes of the soft targets.
        mixup_alpha: Beta(alpha, alpha) of mixup; 0 disables mixup. Official recipe: 0.8.
        cutmix_alpha: Beta(alpha, alpha) of cutmix; 0 disables cutmix. Official recipe: 1.0.
        mixup_prob: probability of mixing a batch at all. Official recipe: 1.0.
        switch_prob: with both enabled, probability of cutmix instead of mixup. Official recipe: 0.5.
        label_smoothing: smoothing applied to both targets before mixing. Official recipe: 0.1.
        correct_lam: with cutmix, recompute the coefficient from the box area left after clipping at the border.

    Every draw uses the global torch RNG, which `accelerate.utils.set_seed` seeds and `Accelerator.save_state` saves,
    so a resumed run mixes exactly as an uninterrupted one.
    """

    num_labels: int
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    mixup_prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1
    correct_lam: bool = True

    @property
    def active(self) -> bool:
        return self.mixup_prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def _beta(self, alpha: float) -> float:
        return float(torch.distributions.Beta(alpha, alpha).sample())

    def draw(self) -> tuple[float, bool]:
        """Draw `(lam, use_cutmix)` for one batch; `lam == 1.0` means no mixing."""
        if not self.active or float(torch.rand(())) >= self.mixup_prob:
            return 1.0, False
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = float(torch.rand(())) < self.switch_prob
        else:
            use_cutmix = self.cutmix_alpha > 0
        return self._beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha), use_cutmix

    def cutmix_box(self, height: int, width: int, lam: float) -> tuple[tuple[int, int, int, int], float]:
        """
        A box covering about `1 - lam` of the frame, centred uniformly at random and clipped at the border.

        Returns:
            `((top, bottom, left, right), lam)` with `lam` corrected to the kept area when `correct_lam`.
        """
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * ratio), int(width * ratio)
        cy = int(torch.randint(0, height, ()))
        cx = int(torch.randint(0, width, ()))
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        if self.correct_lam:
            lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
        return (top, bottom, left, right), lam

    def __call__(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            pixel_values: `(batch, frames, channels, height, width)` clips; mixed in a new tensor.
            labels: `(batch,)` class indices.

        Returns:
            `(mixed pixel_values, soft targets of shape (batch, num_labels))`.

        A batch of one clip (e.g. when the other videos of a batch failed to decode) has nothing to mix with: it
        gets its smoothed target unmixed.
        """
        lam, use_cutmix = self.draw() if pixel_values.shape[0] > 1 else (1.0, False)
        mixed = pixel_values
        if lam < 1.0:
            if use_cutmix:
                (top, bottom, left, right), lam = self.cutmix_box(pixel_values.shape[-2], pixel_values.shape[-1], lam)
                mixed = pixel_values.clone()
                mixed[..., top:bottom, left:right] = pixel_values.flip(0)[..., top:bottom, left:right]
            else:
                mixed = pixel_values * lam + pixel_values.flip(0) * (1.0 - lam)
        targets = smooth_one_hot(labels, self.num_labels, self.label_smoothing).to(pixel_values.device)
        return mixed, targets * lam + targets.flip(0) * (1.0 - lam)


__all__ = ["VideoMixup", "smooth_one_hot"]
