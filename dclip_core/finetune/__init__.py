"""``dclip finetune``: the fine-tune-on-my-folder pipeline (check, split, train, evaluate, export).

:mod:`~dclip_core.finetune.pipeline` drives the stages; :mod:`~dclip_core.finetune.datacheck`
says what the data is before anything trains; :mod:`~dclip_core.finetune.estimate` measures how
long it will take; :mod:`~dclip_core.finetune.verdict` says in plain words whether it helped.
"""
