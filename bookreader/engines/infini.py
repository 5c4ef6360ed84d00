"""The neural engine: an Infini-attention model reads the whole book into compressive memory.

`--model` names either a bookreader.infini checkpoint folder or a Hugging Face causal LM (a
local folder or a hub id; no download happens when HF_HUB_OFFLINE is set): see `backends`.

`read` feeds the book's text segment by segment through every layer (progress in tokens, so the
CLI shows tokens/s); the resulting `InfiniState` (fixed size: M and z per layer and KV head, plus
at most one unfinished segment's keys and values) is cached with the passage index.

`ask` streams generated text, then the `Citation`s of the passages the shared passage index
(BM25 reranked, as in the extractive engine) retrieves for the question; those passages are also
given to the model in the prompt, and the answer says they were retrieved by keyword search.
How many: as many of the best `MAX_CONTEXT_PASSAGES` as fit in one segment less
`PROMPT_RESERVE` of it (so that they sit in the segment's local attention, not only in the
lossy memory), and never fewer than `MIN_CONTEXT_PASSAGES`.

A model declares what it can do (see `capabilities`): `ask`, `summarize` and `chat` need a model
that follows instructions or at least continues text; one that can do neither (a passkey model)
is refused (exit 2) with what it can do. A continuation model's answer is labelled a raw
continuation and is never `found`; its summaries carry the same notice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bookreader.book import Book, Citation, Passage
from bookreader.engines.backends import (
    Backend,
    load_backend,
)
from bookreader.engines.base import (
    STRATEGIES,
    AnswerChunk,
    BookState,
    ChapterSummary,
    Length,
    ProgressCallback,
    Strategy,
    Summary,
)
from bookreader.engines.capabilities import (
    INSTRUCTIONS,
    require_generation,
)
from bookreader.engines.passages import book_passages, terms
from bookreader.engines.retrieval import (
    Hit,
    PassageIndex,
    chapter_label,
    chapter_of,
    passage_index,
    search,
)
from bookreader.errors import UsageError

ENGINE_NAME = "infini"
# Tokens to generate for each --length (chapter summaries, book summary, answers).
NEW_TOKENS: dict[str, int] = {"short": 64, "medium": 160, "long": 320}
NOTE_TOKENS = 96  # per piece in the hierarchical strategy
ANSWER_TOKENS = 160
SENTENCES: dict[str, str] = {"short": "two or three", "medium": "five or six", "long": "ten"}
MIN_CONTEXT_PASSAGES, MAX_CONTEXT_PASSAGES = 3, 10
PROMPT_RESERVE = 0.25  # of a segment: the instructions, the question and the answer's start
RAW_LABEL = (
    "Raw continuation: the model has no chat template and follows no instructions; "
    "what follows continues the prompt and is not an answer.\n\n"
)
RAW_SUMMARY_NOTICE = (
    "Raw continuation: the model has no chat template and follows no instructions; "
    "the text continues the prompts and is not a summary."
)
RETRIEVAL_NOTE = (
    "\n\n(The sources below were retrieved by keyword search and shown to the model; "
    "they were not checked against the generated text.)"
)


@dataclass
class InfiniEngine:
    backend: Backend
    # Summaries: "hierarchical" (segment -> chapter -> book; any instruct model) or "memory"
    # (generated from the memory of the whole book; needs a model adapted to it).
    strategy: Strategy = "hierarchical"
    answer_tokens: int = ANSWER_TOKENS
    note_tokens: int = NOTE_TOKENS
    new_tokens: dict[str, int] | None = None

    name = ENGINE_NAME

    def __post_init__(self) -> None:
        _check_strategy(self.strategy)

    @classmethod
    def from_name(
        cls, model: str, device: str | None = None, dtype: str | None = None, **options: Any
    ) -> InfiniEngine:
        return cls(load_backend(model, device, dtype), **options)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    @property
    def model_revision(self) -> str | None:
        return self.backend.revision

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def answers(self) -> bool:
        """Whether its output can be an answer (it follows instructions), not a continuation."""
        return INSTRUCTIONS in self.backend.capabilities

    def summary_notice(self) -> str | None:
        """A summary by a model that only continues text says so first."""
        return None if self.answers else RAW_SUMMARY_NOTICE

    def require(self, task: str) -> None:
        """Refuse (exit 2) a task that needs generated text from a model that cannot do it."""
        require_generation(self.model_id, self.backend.capabilities, task)

    # -- reading --------------------------------------------------------------------------------

    def read(self, book: Book, progress: ProgressCallback | None = None) -> BookState:
        """Read the whole book into compressive memory, one segment at a time."""
        passages = book_passages(book)
        ids = self.backend.encode(book.text)
        memory = self.backend.read(ids, None, progress)
        state = BookState(
            book=book,
            engine=self.name,
            model_id=self.model_id,
            passages=passages,
            tokens_read=memory.tokens_read,
            memory=memory,
            memory_bytes=memory.nbytes,
            index=PassageIndex.build(passages),
            segment_len=self.backend.segment_len,
        )
        return state

    # -- questions ------------------------------------------------------------------------------

    def answer_prompt(
        self, state: BookState, question: str, chapter: int | None = None
    ) -> tuple[str, list[Hit]]:
        """The prompt for a question (before any chat template) and the passages it shows:
        with `chapter`, passages of that chapter only, and the prompt says which chapter."""
        hits = self.context_hits(state, question, chapter)
        context = "\n\n".join(
            f"[{n}] ({Citation.from_passage(h.passage).label()}) {h.passage.text}"
            for n, h in enumerate(hits, 1)
        )
        prompt = f'You have read the book "{state.book.title}".\n'
        if chapter is not None:
            prompt += f"The question is about {chapter_label(state.book, chapter)}.\n"
        if context:
            source = "the book" if chapter is None else "that chapter"
            prompt += f"Passages from {source} that may help:\n\n{context}\n\n"
        prompt += f"Answer the question in a few sentences.\nQuestion: {question.strip()}\nAnswer:"
        return prompt, hits

    def context_hits(self, state: BookState, question: str, chapter: int | None) -> list[Hit]:
        """The retrieved passages shown to the model: best first, as many as fit in one segment
        less `PROMPT_RESERVE`, between MIN_ and MAX_CONTEXT_PASSAGES."""
        hits = search(state, question, k=MAX_CONTEXT_PASSAGES, chapter=chapter)
        budget = int(self.backend.segment_len * (1 - PROMPT_RESERVE))
        shown: list[Hit] = []
        used = 0
        for hit in hits:
            size = len(self.backend.encode(hit.passage.text))
            if len(shown) >= MIN_CONTEXT_PASSAGES and used + size > budget:
                break
            shown.append(hit)
            used += size
        return shown

    def ask(
        self, state: BookState, question: str, chapter: int | None = None
    ) -> Iterator[AnswerChunk]:
        """Generated text as it comes (from the memory of the whole book), then the citations
        of the passages the prompt showed (of `chapter` alone when given). A model that only
        continues text gets its output labelled as such."""
        self.require("answer questions")
        prompt, hits = self.answer_prompt(state, question, chapter)
        instruction = self.backend.instruction(prompt)
        if not self.answers:
            yield RAW_LABEL
        yield from self.backend.stream(state.memory, instruction, self.answer_tokens)
        if hits:
            yield RETRIEVAL_NOTE
        for hit in hits:
            yield Citation.from_passage(hit.passage, hit.sentence, hit.score)

    # -- summaries ------------------------------------------------------------------------------

    def summarize(
        self,
        state: BookState,
        length: Length = "medium",
        chapter: int | None = None,
        progress: ProgressCallback | None = None,
        strategy: str | None = None,
    ) -> Summary:
        """A summary by the engine's `strategy`, or by `strategy` when given."""
        self.require("summarize")
        strategy = _check_strategy(strategy or self.strategy)
        if strategy == "memory":
            return self._from_memory(state, length, chapter, progress)
        return self._hierarchical(state, length, chapter, progress)

    def _tokens(self, length: str) -> int:
        return (self.new_tokens or NEW_TOKENS)[length]

    def _generate(self, memory: Any, instruction: str, max_new_tokens: int) -> str:
        prompt = self.backend.instruction(instruction)
        return "".join(self.backend.stream(memory, prompt, max_new_tokens)).strip()

    def _from_memory(
        self, state: BookState, length: str, chapter: int | None, progress: ProgressCallback | None
    ) -> Summary:
        ask = f"Summarize what you have just read in {SENTENCES[length]} sentences.\nSummary:"
        chapters = []
        memory = state.memory
        if chapter is not None:
            ch = chapter_of(state.book, chapter)
            memory = self.backend.read(self.backend.encode(ch.text), None, progress)
        text = self._generate(memory, ask, self._tokens(length))
        if chapter is not None:
            chapters.append(ChapterSummary(ch.index, ch.title, text, _cite(state, text, ch.index)))
        return self._summary(state, text, chapters, length, "memory", chapter)

    def _hierarchical(
        self, state: BookState, length: str, chapter: int | None, progress: ProgressCallback | None
    ) -> Summary:
        chapters = state.book.chapters if chapter is None else [chapter_of(state.book, chapter)]
        pieces = {c.index: self._pieces(state.passages, c.index) for c in chapters}
        total = sum(len(p) for p in pieces.values()) + len(chapters) + (chapter is None)
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total, "prompts")

        summaries = []
        for ch in chapters:
            notes = []
            for piece in pieces[ch.index]:
                ask = f"Summarize this passage in two sentences.\n\n{piece}\n\nSummary:"
                notes.append(self._generate(None, ask, self.note_tokens))
                step()
            joined = "\n".join(f"- {n}" for n in notes if n)
            text = self._generate(
                None,
                f'Notes on the chapter "{ch.title}":\n{joined}\n\n'
                f"Write a summary of the chapter in {SENTENCES[length]} sentences.\nSummary:",
                self._tokens(length),
            )
            step()
            summaries.append(ChapterSummary(ch.index, ch.title, text, _cite(state, text, ch.index)))
        if chapter is not None:
            book_text = summaries[0].text
        else:
            joined = "\n".join(f"{s.chapter_title}: {s.text}" for s in summaries)
            book_text = self._generate(
                None,
                f'Chapter summaries of "{state.book.title}":\n{joined}\n\n'
                f"Write a summary of the whole book in {SENTENCES[length]} sentences.\nSummary:",
                self._tokens(length),
            )
            step()
        return self._summary(state, book_text, summaries, length, "hierarchical", chapter)

    def _summary(
        self,
        state: BookState,
        text: str,
        chapters: list[ChapterSummary],
        length: str,
        strategy: Strategy,
        chapter: int | None,
    ) -> Summary:
        """The summary as both strategies return it: cited, with the model's notice."""
        return Summary(
            text=text,
            chapters=tuple(chapters),
            engine=self.name,
            length=length,  # type: ignore[arg-type]
            strategy=strategy,
            notice=self.summary_notice(),
            citations=_cite(state, text, chapter),
        )

    def _pieces(self, passages: Sequence[Passage], chapter_index: int) -> list[str]:
        """The chapter's passages grouped into pieces of about one segment of tokens."""
        budget = self.backend.segment_len
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for passage in (p for p in passages if p.chapter_index == chapter_index):
            size = len(self.backend.encode(passage.text))
            if current and used + size > budget:
                pieces.append("\n\n".join(current))
                current, used = [], 0
            current.append(passage.text)
            used += size
        if current:
            pieces.append("\n\n".join(current))
        return pieces


def _check_strategy(strategy: str) -> Strategy:
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy}: not one of {', '.join(STRATEGIES)}")
    return strategy  # type: ignore[return-value]


def _cite(state: BookState, text: str, chapter: int | None) -> tuple[Citation, ...]:
    """The passage (of `chapter`, or of the book) sharing most weight with a generated text."""
    index = passage_index(state)
    scores = index.scores(sorted(set(terms(text))))
    if chapter is not None:
        scores = scores * (index.chapters == chapter)
    if not len(scores) or float(scores.max()) <= 0:
        return ()
    best = int(scores.argmax())
    return (Citation.from_passage(index.passages[best], score=float(scores[best])),)
