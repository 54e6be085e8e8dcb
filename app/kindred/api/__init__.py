"""The local OpenAI-compatible API: other apps on this computer talk to the person's assistant.

Off until the person turns it on (`kindred serve`, or the window's setting); 127.0.0.1 only unless
asked otherwise; a random access key per data home on every request. It answers through the same
engine code as the chat (the active version, or a rollout's blend, with the persona and stated
preferences), counts every answer for the version that gave it as coming from another app, and
can change no version: consent stays in Kindred. Built on FastAPI/Starlette, uvicorn and
sse-starlette, as llama-cpp-python's own server is. Depends only on the core; the CLI
(`cli/serve.py`) and the window (`ui/sharing/`) start it.

  settings   the per-home key and choices (api.json, mode 0600)
  protocol   the OpenAI request and response shapes, and its error JSON
  answering  one request answered on the engine's thread (stop strings, pausing for the chat)
  hosts      who owns the engine: a thread of its own (`kindred serve`) or the window's
  records    every answer counted for its version, the rollout's pace after it
  app        the FastAPI application (routes, key, limits)
  server     uvicorn in the foreground or on a thread
"""
