"""The LLM layer: an openai client with our retries and cache, prompt rendering, reply parsing.

    client.LLM(settings).complete(messages) -> Completion    (raises client.LLMUnavailable)
    prompts.render(name, **vars), prompts.chat(name, **vars), prompts.describe_kb_entry(entry, device)
    extract.extract_python_block(text), extract.check_no_torch(code)
    spec_reply.parse_spec_reply(text)

Nothing is imported here, so `import agent.llm` stays free of the openai import.
"""
