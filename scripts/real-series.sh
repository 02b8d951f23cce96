# Sourced by scripts/train-real and scripts/ship-default: the four normal-dose training series of
# the default model v2/v3 (issue 16), relative to ../shared/realct (README there: licences,
# attribution). scripts/make-real-pairs simulates their partners (its list adds the doses; keep the
# two in step). Patient A0001 is held out for evaluation and is never listed here.
real_training_series=(
  lung-pet-ct-dx/A0002-chest-8mm-B40f
  lung-pet-ct-dx/A0002-chest-8mm-B70f
  totalsegmentator-pelvis/dicom
  ge-head/dicom
)
