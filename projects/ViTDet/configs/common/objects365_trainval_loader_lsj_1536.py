"""Objects365 v2 train + val with LSJ at 1536, boxes only: det's ``common/data/objects365_lsj.py``
under the name the EVA-02 Objects365 card imports."""

from det import model_zoo

dataloader = model_zoo.get_config("common/data/objects365_lsj.py").dataloader
