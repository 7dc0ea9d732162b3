"""Drives mock-upstream's /v1/messages with the official `anthropic` Python SDK.

Usage: python3 anthropic_sdk_check.py BASE_URL   (e.g. http://127.0.0.1:PORT, no /v1)

Checks `messages.create` and `messages.stream` (text_stream, get_final_message) with and
without thinking, that the usage the SDK reads is the same both ways, typed exceptions for
injected 401/429/529 and an in-stream error. Exits non-zero on any failure and prints one JSON
line of findings.
"""

import json
import sys

from mock_control import import_sdk, put_faults


def expect(error_class, call):
    try:
        call()
    except error_class as e:
        return e
    raise AssertionError(f"expected {error_class.__name__}")


def main():
    base = sys.argv[1].rstrip("/")
    anthropic = import_sdk("anthropic")

    client = anthropic.Anthropic(base_url=base, api_key="sk-mock", max_retries=0, timeout=20)
    e = expect(
        anthropic.AuthenticationError,
        lambda: anthropic.Anthropic(base_url=base, api_key="sk-wrong", max_retries=0).messages.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ),
    )
    assert e.body["error"]["type"] == "authentication_error", e.body
    found = {"sdk_version": anthropic.__version__}
    ask = dict(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    )

    # Thinking: the mock starts with 6 reasoning tokens, then a 9-token answer, and requires
    # the key, which the SDK sends as `x-api-key`.
    thinking = dict(thinking={"type": "enabled", "budget_tokens": 512}, **ask)
    msg = client.messages.create(**thinking)
    assert [b.type for b in msg.content] == ["thinking", "text"], msg.content
    assert msg.content[0].thinking and msg.content[0].signature, msg.content[0]
    assert msg.content[1].text, msg.content[1]
    assert msg.stop_reason == "end_turn", msg.stop_reason
    assert msg.usage.output_tokens == 15 and msg.usage.input_tokens > 0, msg.usage
    found["thinking_output_tokens"] = msg.usage.output_tokens

    with client.messages.stream(**thinking) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == msg.content[1].text, (text, msg.content[1].text)
    assert [b.type for b in final.content] == ["thinking", "text"], final.content
    assert final.content[0].thinking == msg.content[0].thinking, final.content[0]
    assert final.usage.output_tokens == msg.usage.output_tokens, final.usage
    assert final.usage.input_tokens == msg.usage.input_tokens, final.usage
    assert final.stop_reason == "end_turn", final.stop_reason

    # Without thinking: one text block.
    put_faults(base, {"seed": 7, "output_tokens": 9, "require_key": "sk-mock"})
    plain = client.messages.create(**ask)
    assert [b.type for b in plain.content] == ["text"], plain.content
    assert plain.usage.output_tokens == 9, plain.usage
    with client.messages.stream(**ask) as stream:
        streamed = "".join(stream.text_stream)
        assert stream.get_final_message().usage.output_tokens == 9
    assert streamed == plain.content[0].text, (streamed, plain.content[0].text)
    found["text"] = plain.content[0].text

    # Injected errors are the SDK's typed exceptions.
    put_faults(base, {"errors": {"429": 1.0}})
    e = expect(anthropic.RateLimitError, lambda: client.messages.create(**ask))
    assert e.status_code == 429 and e.body["error"]["type"] == "rate_limit_error", e.body
    put_faults(base, {"errors": {"529": 1.0}})
    e = expect(anthropic.InternalServerError, lambda: client.messages.create(**ask))
    assert e.status_code == 529 and e.body["error"]["type"] == "overloaded_error", e.body
    found["overloaded_class"] = type(e).__name__
    put_faults(base, {"errors": {"401": 1.0}})
    e = expect(anthropic.AuthenticationError, lambda: client.messages.create(**ask))
    assert e.body["error"]["type"] == "authentication_error", e.body

    def stream_to_end():
        with client.messages.stream(**ask) as stream:
            for _ in stream.text_stream:
                pass

    put_faults(base, {"faults": {"stream_error": 1.0}})
    e = expect(anthropic.APIStatusError, stream_to_end)
    assert e.body["error"]["type"] == "overloaded_error", e.body
    found["typed_errors"] = True
    print(json.dumps(found))


if __name__ == "__main__":
    main()
