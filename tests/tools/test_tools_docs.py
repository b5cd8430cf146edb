"""README.md: every image it shows exists, decodes and stays small."""

import os
import re

from PIL import Image
from tools_testutil import REPO


def test_tools_doc_images_exist_and_are_small():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= 8
    for rel in images:
        path = os.path.join(REPO, rel)
        assert os.path.getsize(path) < 200 * 1024, rel
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 64, rel
