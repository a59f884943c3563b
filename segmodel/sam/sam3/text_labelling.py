"""Label a folder of photos from text prompts alone (SAM 3), with zero clicks.

The text is one phrase for every photo ("a pet"), or comes from each file's Oxford-IIIT
Pet style name (`Abyssinian_12.jpg`: a capitalised breed is a cat, `beagle_3.jpg`: a
lowercase one a dog): "a cat" / "a dog", or the breed's name ("abyssinian"). The labelling
loop, trimaps, outline band and list files are the batch labeller's
(`segmodel.sam.labelling.folder.label_images` into a
`segdata.formats.pets.labelled.LabelledFolder`): this
module only supplies the per-image prompt entries and a mask source. The foreground is the
union of the instances SAM 3 keeps at the score threshold; images where it is empty are
reported and left out.

Multi-class (layout "masks", `sam_label --text cat --text dog`): each text is a class (or,
with --classes, names one), and each kept instance becomes an object of its text's class,
painted lowest score first so the best instance is on top where they overlap.
"""

import pathlib

from segdata.formats.pets.labelled import sample_name
from segdata.records.labels import BREEDS, breed_info
from segmodel.sam.sam3.segmenter import check_texts, check_threshold

CLASS_TEXTS = ("species", "breed")
SPECIES_TEXT = {1: "a cat", 2: "a dog"}


def pets_class(name):
    """Breed and list-file ids from a Pets-style image name.

    Args:
      name: an image file name or sample name, e.g. "Maine_Coon_12.jpg" or "pug_3".

    Returns:
      dict with "breed" (e.g. "Maine_Coon"), "class_id" (1..37, the breed's rank ignoring
      case, as in Pets' list.txt), "species" (1 cat: capitalised, 2 dog: lowercase) and
      "breed_id" (the breed's number within its species, 1..12 cats, 1..25 dogs).

    Raises:
      ValueError: naming the file when it is not BREED_NUMBER with one of the 37 breeds.
    """
    stem = sample_name(name)
    breed, _, number = stem.rpartition("_")
    if not breed or not number.isdigit():
        raise ValueError(f"{name}: not a Pets-style name BREED_NUMBER (e.g. Abyssinian_12.jpg, "
                         f"beagle_3.jpg); use --text instead of --text-from-class")
    if breed not in BREEDS:
        near = [b for b in BREEDS if b.lower() == breed.lower()]
        hint = (f" (Pets writes it {near[0]!r}: capitalised for cats, lowercase for dogs)"
                if near else "")
        raise ValueError(f"{name}: breed {breed!r} is not one of the 37 Oxford-IIIT Pet "
                         f"breeds{hint}; use --text instead of --text-from-class")
    class_id, species, breed_id = breed_info(breed)
    return {"breed": breed, "class_id": class_id, "species": species, "breed_id": breed_id}


def class_text(name, class_text="species"):
    """The text prompt for a Pets-style name: "a cat" / "a dog" ("species"), or the breed
    name in words, e.g. "maine coon" ("breed")."""
    if class_text not in CLASS_TEXTS:
        raise ValueError(f"class_text must be one of {CLASS_TEXTS}, got {class_text!r}")
    info = pets_class(name)
    if class_text == "breed":
        return info["breed"].replace("_", " ").lower()
    return SPECIES_TEXT[info["species"]]


def image_names(images_dir):
    """Image file names directly in `images_dir`, sorted: the files the batch labeller
    (`label_folder.label_images`) considers, hidden files left out."""
    from segmodel.sam.labelling.folder import image_files

    images_dir = pathlib.Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"Image folder not found: {images_dir}")
    return image_files(images_dir)


def text_prompts(images_dir, text=None, from_class=None):
    """Prompt entries for every image of a folder, as `label_images` takes them.

    Args:
      images_dir: folder of image files (e.g. a Pets folder's images/).
      text: one phrase (or a list of phrases) for every image, or None.
      from_class: None, or "species" / "breed": the text from each file's Pets-style name
        (see `class_text`); the entries then carry its class_id, species and breed_id.

    Returns:
      dict image file name -> {"text": [phrases], and with from_class the three ids}.

    Raises:
      ValueError: for a bad text, or listing every name that is not Pets-style.
    """
    if (text is None) == (from_class is None):
        raise ValueError("give exactly one of text and from_class")
    names = image_names(images_dir)
    if text is not None:
        texts = check_texts(text)
        return {name: {"text": list(texts)} for name in names}
    prompts, errors = {}, []
    for name in names:
        try:
            info = pets_class(name)
            prompts[name] = {"text": [class_text(name, from_class)],
                             **{k: info[k] for k in ("class_id", "species", "breed_id")}}
        except ValueError as err:
            errors.append(str(err))
    if errors:
        raise ValueError(f"{len(errors)} image name(s) carry no Pets class, nothing was "
                         "labelled:\n  " + "\n  ".join(errors))
    return prompts


class TextSource:
    """Masks from text prompts: the union of the instances SAM 3 keeps.

    A mask source for `segmodel.sam.labelling.folder.label_images` (methods `check` and `mask`).

    Args:
      segmenter: a `TextSegmenter`, or a function returning one, called at the first mask
        (so a finished folder resumes without loading SAM 3).
      score_threshold, mask_threshold: as in `TextSegmenter.segment`.
      classes: a `ClassList` every text must name (needed for `objects`), or None.
    """

    def __init__(self, segmenter, score_threshold=0.5, mask_threshold=0.5, classes=None):
        self._segmenter = segmenter
        self.classes = classes
        self.score_threshold = check_threshold(score_threshold, "score_threshold")
        self.mask_threshold = check_threshold(mask_threshold, "mask_threshold")

    @property
    def segmenter(self):
        if not hasattr(self._segmenter, "segment"):
            self._segmenter = self._segmenter()
        return self._segmenter

    def check(self, name, image_size, entry):
        if not isinstance(entry, dict) or "text" not in entry:
            raise ValueError(f"{name}: a text prompt entry is {{\"text\": \"a cat\"}}, got "
                             f"{entry!r}")
        try:
            texts = check_texts(entry["text"])
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
        if self.classes is not None:
            for i, text in enumerate(texts):
                self.classes.train_id(text, f"{name}: text[{i}]")

    def _segment(self, image_path, entry):
        instances = self.segmenter.segment(image_path, entry["text"],
                                           score_threshold=self.score_threshold,
                                           mask_threshold=self.mask_threshold)
        record = {"text": check_texts(entry["text"]), "score_threshold": self.score_threshold,
                  "mask_threshold": self.mask_threshold,
                  "instances": [inst.to_dict() for inst in instances]}
        return instances, record

    def mask(self, name, image_path, entry):
        """-> (bool `[H, W]` union of the kept instances, the record for prompts.json)."""
        from segmodel.sam.sam3.text_results import union_mask

        instances, record = self._segment(image_path, entry)
        image_size = instances[0].mask.shape if instances else _image_size(image_path)
        return union_mask(instances, image_size), record

    def mask_objects(self, name, image_path, entry):
        """-> (`mask`'s union and record, plus each kept instance, lowest score first:
        {"mask", "score", "prompt" {"text", "box"}}) for the Pets layout's instances.json."""
        from segmodel.sam.sam3.text_results import union_mask

        instances, record = self._segment(image_path, entry)
        image_size = instances[0].mask.shape if instances else _image_size(image_path)
        return union_mask(instances, image_size), record, [
            {"mask": inst.mask, "score": float(inst.score),
             "prompt": {"text": inst.text, "box": [float(v) for v in inst.box]}}
            for inst in instances[::-1]]

    def objects(self, name, image_path, entry):
        """-> (one object per kept instance, lowest score first (painted later = on top):
        "mask" bool `[H, W]`, "category_id" (its text's class), "score", "prompt" {"text",
        "box"}; the record for prompts.json)."""
        if self.classes is None:
            raise ValueError("TextSource.objects needs classes (each text names one)")
        instances, record = self._segment(image_path, entry)
        objects = [{"mask": inst.mask, "category_id": self.classes.train_id(inst.text, name),
                    "score": float(inst.score),
                    "prompt": {"text": inst.text, "box": [float(v) for v in inst.box]}}
                   for inst in instances[::-1]]  # segment sorts best first
        return objects, record


def _image_size(path):
    from PIL import Image

    with Image.open(path) as img:
        return img.height, img.width
