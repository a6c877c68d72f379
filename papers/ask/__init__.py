"""Asking the knowledge base: a question in Korean, Chinese or English gets an answer in its
language, written only from passages of the papers (passages.py cuts and embeds them;
papers.search.passages retrieves them), with every claim citing the passage that states it.

- question.py: what a question may be (length, script) and which language it is in.
- answer.py: the answer flow, run by the worker (papers.tasks.answer_question) or inline
  for the API: retrieval, then the LLM (through papers.llm) or, offline, extractive.py.
- grounding.py: the rules the code enforces on the LLM's reply, whatever the prompt said.
- display.py: a stored answer as the page and the JSON API show it.
"""

from papers.ask.answer import answer_now, start_answer, write_answer
from papers.ask.question import QuestionError, clean_question

__all__ = ["QuestionError", "answer_now", "clean_question", "start_answer", "write_answer"]
