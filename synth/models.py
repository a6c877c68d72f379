"""The synthesis lab: topics (a corpus of paper texts), synthesis runs over a topic, their
idempotent work units and the synthetic documents they write."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from papers.languages import CONTENT_LANGS, Lang


def all_content_languages() -> list[str]:
    return list(CONTENT_LANGS)


class Topic(models.Model):
    """A corpus: papers chosen by tags and/or by hand, and which of their texts go in."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    tags = models.ManyToManyField(
        "papers.Tag", blank=True, related_name="topics", verbose_name=_("tags"),
        help_text=_("Every paper with one of these tags is in the corpus."),
    )
    papers = models.ManyToManyField(
        "papers.Paper", blank=True, related_name="topics", verbose_name=_("hand-picked papers"),
    )
    include_abstracts = models.BooleanField(_("abstracts"), default=True)
    include_summaries = models.BooleanField(_("summaries"), default=True)
    include_commentary = models.BooleanField(_("commentary"), default=True)
    languages = ArrayField(
        models.CharField(max_length=8, choices=Lang.choices), default=all_content_languages,
        verbose_name=_("languages"), help_text=_("Texts in these languages go in."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("topic")
        verbose_name_plural = _("topics")

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """What synthesis and training runs share: who started them, when, whether they are still
    going, and the fields of the job protocol (synth.jobs: owner token, heartbeat, cancel).

    A subclass declares its Status choices (with QUEUED, RUNNING, CANCELLED, FAILED), the
    ACTIVE statuses, and STALLS: the statuses in which a silent heartbeat means a dead worker."""

    class StopReason(models.TextChoices):
        # Why a run ended, for the run page and the admin (synth.synthesis.pages.outcome says
        # what to change). Empty: still going, or ended before reasons were recorded.
        TARGET = "target", _("target tokens reached")
        EXHAUSTED = "exhausted", _("every planned unit ran")
        CALL_CAP = "call_cap", _("call cap reached")
        COST_CAP = "cost_cap", _("cost cap reached")
        CANCELLED = "cancelled", _("cancelled")
        EMPTY_CORPUS = "empty_corpus", _("the topic's corpus is empty")
        ERROR = "error", _("an error stopped it")
        WORKER_DIED = "worker_died", _("its worker died too often")

    ACTIVE: tuple = ()
    STALLS: tuple = ()

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # The worker that owns the run writes its token here; a worker that claims the run later
    # writes a new one and the earlier one, if it still lives, sees the change and stops
    # without writing (synth.jobs).
    runner_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Claims since the run was started or an operator last resumed it (synth.jobs.claim). A run
    # that kills its worker (out of memory, a segfault) is claimed again and again by beat and
    # by redelivery; at SYNTH_MAX_ATTEMPTS / CPT_MAX_ATTEMPTS it is failed instead.
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    stop_reason = models.CharField(_("stop reason"), max_length=32, choices=StopReason.choices, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class SynthesisRun(Job):
    class Strategy(models.TextChoices):
        ENTIGRAPH = "entigraph", _("EntiGraph (entities, pairs, triples)")
        REPHRASE = "rephrase", _("Rephrase (WRAP-style baseline)")
        EXTRACTIVE = "extractive", _("Extractive (baseline, no LLM)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        BUDGET = "budget", _("stopped at budget")
        CANCELLED = "cancelled", _("cancelled")
        FAILED = "failed", _("failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    # An llm worker picks a queued run within seconds: queued and silent is stalled too.
    STALLS = ACTIVE

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="runs", verbose_name=_("topic"))
    strategy = models.CharField(_("strategy"), max_length=16, choices=Strategy.choices, default=Strategy.ENTIGRAPH)
    model = models.CharField(_("model"), max_length=120, blank=True, help_text=_("The LLM; part of every unit's key."))
    prompt_version = models.CharField(_("prompt version"), max_length=32, blank=True)
    seed = models.PositiveIntegerField(_("seed"), default=0, help_text=_("Pair order and triple sampling follow it."))
    max_entities = models.PositiveSmallIntegerField(_("entities per document"), default=12)
    triples_per_document = models.PositiveSmallIntegerField(_("triples per document"), default=10)
    # Budget: zero means no limit. The runner stops launching units when one is reached.
    target_tokens = models.PositiveBigIntegerField(_("target synthetic tokens"), default=0)
    max_calls = models.PositiveIntegerField(_("cap on LLM calls"), default=0)
    max_cost_usd = models.DecimalField(_("cap on LLM cost (USD)"), max_digits=10, decimal_places=4, default=0)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)

    source_documents = models.PositiveIntegerField(default=0)
    source_tokens = models.PositiveBigIntegerField(default=0)
    calls = models.PositiveIntegerField(_("LLM calls"), default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(_("LLM cost (USD)"), max_digits=12, decimal_places=6, default=0)
    synthetic_documents = models.PositiveIntegerField(default=0)
    synthetic_tokens = models.PositiveBigIntegerField(_("synthetic tokens"), default=0)
    dropped_empty = models.PositiveIntegerField(default=0)
    dropped_refused = models.PositiveIntegerField(default=0)
    dropped_truncated = models.PositiveIntegerField(default=0)
    dropped_duplicate = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("synthesis run")
        verbose_name_plural = _("synthesis runs")
        # Spends the LLM budget: the Lab operator group has it (synth.permissions), view-only staff not.
        permissions = [("run_synthesis", _("Can start, cancel and resume synthesis runs"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic} ({self.strategy})"

    @property
    def is_baseline(self) -> bool:
        return self.strategy != self.Strategy.ENTIGRAPH

    @property
    def dropped(self) -> int:
        return self.dropped_empty + self.dropped_refused + self.dropped_truncated + self.dropped_duplicate


class CorpusDocument(models.Model):
    """One source text of a run, copied from the topic when the run starts, so that a resumed
    run works on exactly the texts (and hashes) its units were keyed on."""

    class Kind(models.TextChoices):
        ABSTRACT = "abstract", _("abstract")
        SUMMARY = "summary", _("summary")
        COMMENTARY = "commentary", _("commentary")

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="documents")
    key = models.CharField(max_length=80)  # where it came from: "paper:12:abstract:en", "commentary:3"
    paper = models.ForeignKey("papers.Paper", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=500)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    lang = models.CharField(max_length=8, choices=Lang.choices)
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    tokens = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)
    # Written by the entity stage; the pair and triple stages are planned from them.
    summary = models.TextField(blank=True)
    entities = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run", "position"]
        verbose_name = _("corpus document")
        verbose_name_plural = _("corpus documents")
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="corpusdocument_unique_in_run")]

    def __str__(self) -> str:
        return f"{self.title} [{self.lang} {self.kind}]"


class SynthesisUnit(models.Model):
    """One idempotent piece of work: one call (or one extractive assembly) for one document and
    one entity tuple. Its key is prompt version + model + document hash + stage + entities."""

    class Stage(models.TextChoices):
        ENTITIES = "entities", _("entities")
        PAIR = "pair", _("pairs")
        TRIPLE = "triple", _("triples")
        REPHRASE = "rephrase", _("rephrasings")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="units")
    document = models.ForeignKey(CorpusDocument, on_delete=models.CASCADE, related_name="units")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    entities = models.JSONField(default=list, blank=True)
    style = models.CharField(max_length=24, blank=True)  # rephrase: encyclopedic | easy | qa
    key = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)  # order within the stage (seeded)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    dropped = models.CharField(max_length=16, blank=True)  # empty | refused | truncated | duplicate
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "stage", "position"]
        verbose_name = _("synthesis unit")
        verbose_name_plural = _("synthesis units")
        # A resumed run plans the same keys again and must find them, never add a second unit.
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="synthesisunit_unique_key_in_run")]
        # synth.synthesis.runner loads a stage's pending units in order; the run page counts by stage and status.
        indexes = [models.Index(fields=["run", "stage", "status", "position"], name="synthunit_run_stage_status")]

    def __str__(self) -> str:
        return f"{self.stage} {' / '.join(self.entities) or self.style or self.document_id}: {self.status}"


class SyntheticDocument(models.Model):
    class Kind(models.TextChoices):
        SUMMARY = "summary", _("entity-stage summary")
        PAIR = "pair", _("entity pair")
        TRIPLE = "triple", _("entity triple")
        ENCYCLOPEDIC = "encyclopedic", _("rephrased: encyclopedic")
        EASY = "easy", _("rephrased: plain")
        QA = "qa", _("rephrased: question-answer")
        EXTRACTIVE = "extractive", _("extractive pair (baseline)")

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="synthetic")
    source = models.ForeignKey(CorpusDocument, on_delete=models.CASCADE, related_name="synthetic")
    # One text per unit at most: a unit redone after a kill can never add a second one.
    unit = models.OneToOneField(SynthesisUnit, null=True, blank=True, on_delete=models.SET_NULL, related_name="output")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    entities = models.JSONField(default=list, blank=True)
    text = models.TextField()
    tokens = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        verbose_name = _("synthetic document")
        verbose_name_plural = _("synthetic documents")
        constraints = [models.UniqueConstraint(fields=["run", "content_hash"], name="syntheticdocument_unique_in_run")]

    def __str__(self) -> str:
        return f"{self.kind} {' / '.join(self.entities)} ({self.tokens} tokens)"


# --- continued pretraining: training runs and the evaluation question set ---------------


class TrainingRun(Job):
    """Continued pretraining of a base model on the synthetic texts of one topic's runs.

    The hyperparameters default to the paper's recipe and have TrainConfig's names
    (synth.training.data.config_for maps them); the rest is state written by the worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        CANCELLED = "cancelled", _("cancelled")
        FAILED = "failed", _("failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    # A queued run may wait hours for the gpu worker to finish another: only running is stalled.
    STALLS = (Status.RUNNING,)

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="training_runs", verbose_name=_("topic"))
    synthesis_runs = models.ManyToManyField(SynthesisRun, related_name="training_runs", verbose_name=_("synthesis runs"))
    base_model = models.CharField(
        _("base model"), max_length=500, blank=True,
        help_text=_("A Hugging Face model id or a local path; empty: the tiny built-in model (random init)."),
    )
    base_label = models.CharField(_("model loaded"), max_length=300, blank=True)

    # Hyperparameters (the paper's recipe; editable while the run is queued)
    lr = models.FloatField(_("learning rate"), default=5e-6)
    min_lr = models.FloatField(_("final learning rate"), default=0.0)
    warmup_ratio = models.FloatField(_("warm-up share of steps"), default=0.05)
    weight_decay = models.FloatField(_("weight decay"), default=0.01)
    epochs = models.FloatField(_("epochs"), default=2.0)
    step_limit = models.PositiveIntegerField(_("step limit"), default=0, help_text=_("0: from the epochs."))
    batch_size = models.PositiveIntegerField(_("sequences per step"), default=16)
    micro_batch_size = models.PositiveIntegerField(_("sequences per forward pass"), default=4)
    seq_len = models.PositiveIntegerField(_("sequence length"), default=2048)
    replay_ratio = models.FloatField(_("replay share"), default=0.1)
    replay_path = models.CharField(_("replay corpus"), max_length=500, blank=True, help_text=_("A local .txt or .jsonl file."))
    raw_ratio = models.FloatField(_("raw document share"), default=0.0)
    checkpoint_every = models.PositiveIntegerField(_("checkpoint every (steps)"), default=100)
    seed = models.PositiveIntegerField(_("seed"), default=1337)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    device = models.CharField(max_length=120, blank=True)
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    resumed_from_step = models.PositiveIntegerField(default=0, help_text=_("The checkpoint the last start went on from."))
    tokens_per_s = models.FloatField(_("tokens per second"), null=True, blank=True)
    mfu = models.FloatField(_("model FLOPs utilization"), null=True, blank=True)  # on CUDA only
    loss_history = models.JSONField(default=list, blank=True)  # one training loss per step
    metrics_before = models.JSONField(default=dict, blank=True)
    metrics_after = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)  # what went into the training data
    artifacts_dir = models.CharField(max_length=500, blank=True)
    # Names the run folder (run-<id>-<uid8>) and marks it as this run's (synth.cpt.train.prepare_out_dir):
    # ids repeat across databases and after a database is recreated, a uuid does not.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
        # Uses GPU hours: the Lab operator group has it (synth.permissions), view-only staff not.
        permissions = [("run_training", _("Can start, cancel and resume training runs"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic} ({self.base_model or 'tiny'})"

    @property
    def is_tiny(self) -> bool:
        return not self.base_model or self.base_model == "tiny"

    @property
    def percent(self) -> int:
        return int(100 * self.step / self.max_steps) if self.max_steps else 0


class EvalQuestion(models.Model):
    """A closed-book multiple-choice question about a topic, asked before and after training."""

    class Origin(models.TextChoices):
        LLM = "llm", _("LLM")
        EDITOR = "editor", _("editor")

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="eval_questions", verbose_name=_("topic"))
    question = models.TextField(_("question"))
    options = models.JSONField(_("options"), default=list, help_text=_("A list of two or more answers."))
    answer = models.PositiveSmallIntegerField(_("answer"), help_text=_("The index of the right option, from 0."))
    source_key = models.CharField(max_length=80, blank=True)  # the topic document it was written from (synth.corpus)
    source_title = models.CharField(_("source"), max_length=500, blank=True)
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.EDITOR)
    model = models.CharField(_("model"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["topic", "id"]
        verbose_name = _("evaluation question")
        verbose_name_plural = _("evaluation questions")
        # Generating questions again for a topic must not add the same question twice.
        constraints = [models.UniqueConstraint(fields=["topic", "question"], name="evalquestion_unique_in_topic")]

    def __str__(self) -> str:
        return self.question[:80]

    def clean(self) -> None:
        if not isinstance(self.options, list) or len(self.options) < 2 or not all(
                isinstance(o, str) and o.strip() for o in self.options):
            raise ValidationError({"options": _("Give a list of two or more non-empty answers.")})
        if self.answer is not None and self.answer >= len(self.options):
            raise ValidationError({"answer": _("The answer index must point at one of the options.")})
