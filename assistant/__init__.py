"""The model side of repoqa: generators (local CPU model, OpenAI-compatible servers, vLLM),
grounded answers with checked citations, secret masking, and checked edits.

    generators.Generator (the protocol), GeneratorOptions; service.generators.open_generator
    answer.ask(generator, bundle, question, facts=...) -> Answer
    answer.bundle_budget(generator, max_tokens) -> int
    edits.propose(root, reply) -> Proposal;  edits.apply(proposal, root, expected)
    secrets.mask_secrets(text) -> (text, count, kinds)
    (service.openai_server.OpenAIServer(generator) serves any generator over the OpenAI API)
"""
