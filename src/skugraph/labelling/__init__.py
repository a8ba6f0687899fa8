"""The labelling loop: which titles to label next, Label Studio as the annotation tool (push,
pull, an ML backend that predicts and retrains), label-error detection and weak supervision.

One task format runs through it (:mod:`skugraph.labelling.tasks`): Label Studio's JSON task with
``data.text`` and the model's spans as pre-annotations under ``predictions``; what annotators
submit comes back as :class:`~skugraph.corpus.ner.LabelledText` through
:func:`skugraph.corpus.ner.read_label_studio`."""
