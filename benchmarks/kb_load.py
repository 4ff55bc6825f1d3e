"""How long loading the KB takes (YAML parse + pydantic validation + verdict merge)."""
import time

from agent.kb.store import load_kb


def main() -> None:
    load_kb.cache_clear()
    start = time.process_time()
    kb = load_kb()
    print(f"kb_load_cpu_s: {time.process_time() - start:.2f} s")
    print(f"kb_entries: {len(kb.entries)} entries")


if __name__ == "__main__":
    main()
