"""Tools a model may call while it generates: the built-in `calculator` and user tools.

A `ToolBox` maps tool names to tools; the engine hands it each call the model makes
(`ToolBox.call(name, arguments) -> str`) and feeds the string back as the tool's result. A call
never raises: a wrong name, wrong arguments, a failing, slow or chatty tool all come back as a
result that starts with `error:`, which the model sees and may recover from.

- `calculator` evaluates arithmetic without `eval`: the expression is parsed and its syntax tree
  walked, allowing only numbers, + − × ÷ // % **, unary signs and parentheses. Expression length,
  exponent and result size are bounded, so no input can take unbounded time or memory.
- User tools come from a TOML or JSON file of schemas (name, description, JSON-schema `parameters`),
  each bound to a Python callable `module:function` — an explicit opt-in, like `--reward`. Each call
  runs in a fresh subprocess (`python -m llmkit.tools module:function`), so a tool that hangs is cut
  at its time limit, and its output is cut at its size limit.

`load_toolbox("calculator,my_tools.toml")` builds the box the CLI's `--tools` names.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import json
import math
import operator
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path

from llmkit.errors import UserError

MAX_EXPRESSION_CHARS = 1000
MAX_RESULT_DIGITS = 100  # an integer result (or operand) of more digits is refused
MAX_EXPONENT = 1000
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_OUTPUT_CHARS = 4000


class ToolError(Exception):
    """A call that cannot be answered; its message becomes the `error: …` result the model sees."""


# --------------------------------------------------------------------------------------- the calculator

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
# the signs people (and models) write for × ÷ − are read as Python's operators
_SIGNS = str.maketrans({"×": "*", "÷": "/", "−": "-", "^": "**"})


def calculate(expression: str) -> str:
    """The value of an arithmetic expression as text (`"4817*93"` → `"447981"`), or a ToolError."""
    if not isinstance(expression, str):
        raise ToolError("expression must be a string")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression too long ({len(expression)} characters; at most {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(expression.translate(_SIGNS).strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise ToolError(f"not an arithmetic expression: {expression[:60]!r}") from e
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError as e:
        raise ToolError("division by zero") from e
    except (OverflowError, RecursionError) as e:
        raise ToolError("result too large") from e
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolError("result too large")
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):  # bool is not a number here
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _bounded(_BINARY[type(node.op)](left, right))
    raise ToolError(f"only numbers, + - * / // % ** and parentheses are allowed (found {type(node).__name__})")


def _check_power(base, exponent) -> None:
    """Refuse a power whose result would exceed the size bound before computing it (9**9**9 would
    otherwise run for minutes and fill memory)."""
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent too large (at most {MAX_EXPONENT})")
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise ToolError(f"result too large (more than {MAX_RESULT_DIGITS} digits)")


def _bounded(value):
    if isinstance(value, complex):  # (-8) ** 0.5
        raise ToolError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_DIGITS * 3.33:  # 3.33 bits per digit
        raise ToolError(f"result too large (more than {MAX_RESULT_DIGITS} digits)")
    return value


CALCULATOR_SCHEMA = {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression.",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}


# --------------------------------------------------------------------------------------- tools and the box


@dataclass
class Tool:
    """One callable tool: its schema (name, description, JSON-schema parameters) and how to run it."""

    name: str
    description: str
    parameters: dict
    run: Callable[[dict], str]  # arguments (already checked against `parameters`) → result text

    @property
    def schema(self) -> dict:
        """The tool in OpenAI's shape, as the chat template renders it."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}


def calculator_tool() -> Tool:
    return Tool(
        CALCULATOR_SCHEMA["name"],
        CALCULATOR_SCHEMA["description"],
        CALCULATOR_SCHEMA["parameters"],
        lambda arguments: calculate(arguments["expression"]),
    )


BUILTIN_TOOLS = {"calculator": calculator_tool}


@dataclass
class ToolBox:
    """The tools one generation may call, by name."""

    tools: dict[str, Tool] = field(default_factory=dict)

    @property
    def schemas(self) -> list[dict]:
        return [tool.schema for tool in self.tools.values()]

    def call(self, name, arguments) -> str:
        """The result text of one call; every failure is an `error: …` text, never an exception."""
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            return f"error: unknown tool {name!r}" + (f" (tools: {', '.join(self.tools)})" if self.tools else "")
        if not isinstance(arguments, dict):
            return f"error: the arguments of {name} must be a JSON object"
        problem = _schema_problem(tool.parameters, arguments)
        if problem:
            return f"error: bad arguments for {name}: {problem}"
        try:
            return str(tool.run(arguments))
        except ToolError as e:
            return f"error: {e}"
        except Exception as e:  # a tool's own bug is the model's error result, not a crash
            return f"error: {name} failed: {type(e).__name__}: {e}"[:300]


def _schema_problem(schema: dict, arguments: dict) -> str | None:
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    return None if error is None else error.message[:200]


# --------------------------------------------------------------------------------------- user tools


@dataclass
class SubprocessTool:
    """Runs `module:function(**arguments)` in a fresh Python process, cut at `timeout_s` and at
    `max_output_chars` of result text."""

    function: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    search_path: tuple[str, ...] = ()  # where the module is looked for, before the usual places

    def __call__(self, arguments: dict) -> str:
        command = [sys.executable, "-m", "llmkit.tools", self.function, str(self.max_output_chars)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*self.search_path, os.environ.get("PYTHONPATH", "")])}
        try:
            done = subprocess.run(
                command, input=json.dumps(arguments), capture_output=True, text=True, timeout=self.timeout_s, env=env
            )
        except subprocess.TimeoutExpired as e:  # subprocess.run kills the child before raising
            raise ToolError(f"{self.function} took longer than {self.timeout_s:g} s") from e
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ToolError(f"{self.function} failed: {last[:200]}")
        return done.stdout[: self.max_output_chars]


def _run_in_child(spec: str, max_output_chars: int) -> None:
    """The child's side of `SubprocessTool`: arguments as JSON on stdin, the result text on stdout.

    What the function prints itself is swallowed, so only its return value (cut to the limit) comes back.
    """
    module_name, _, name = spec.partition(":")
    function = getattr(importlib.import_module(module_name), name)
    arguments = json.loads(sys.stdin.read())
    with redirect_stdout(io.StringIO()):
        result = function(**arguments)
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    sys.stdout.write(text[:max_output_chars])


def read_tools_file(path: str | Path) -> list[Tool]:
    """User tools from a TOML or JSON file: a `tools` list of tables with name, description,
    parameters (a JSON schema), function (`module:function`), and optional timeout_s and
    max_output_chars. Anything malformed is a UserError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError) as e:
        raise UserError(f"tools file {path} does not exist") from e
    except UnicodeDecodeError as e:
        raise UserError(f"tools file {path} is not UTF-8 text") from e
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"tools file {path} is not valid {path.suffix[1:].upper()}: {str(e).splitlines()[0]}") from e
    entries = data.get("tools") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserError(f"tools file {path} needs a non-empty 'tools' list")
    # a tool's module is looked for next to the tools file, then in the working directory, then as usual
    search_path = (str(path.resolve().parent), os.getcwd())
    return [_user_tool(entry, f"{path}: tool {i + 1}", search_path) for i, entry in enumerate(entries)]


def _user_tool(entry, where: str, search_path: tuple[str, ...]) -> Tool:
    import jsonschema

    if not isinstance(entry, dict):
        raise UserError(f"{where} must be a table with name, description, parameters and function")
    name, function = entry.get("name"), entry.get("function")
    if not isinstance(name, str) or not name.isidentifier():
        raise UserError(f"{where} needs a 'name' made of letters, digits and _ (got {name!r:.40})")
    parameters = entry.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise UserError(f"{where} ({name}): 'parameters' must be a JSON schema of type object")
    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as e:
        raise UserError(f"{where} ({name}): 'parameters' is not a valid JSON schema: {e.message[:150]}") from e
    if not isinstance(function, str) or function.count(":") != 1 or not all(function.split(":")):
        raise UserError(f"{where} ({name}): 'function' must look like module:function (got {function!r:.60})")
    top = function.split(":")[0].split(".")[0]  # found, not imported: it runs in the child process
    found = PathFinder.find_spec(top, list(search_path)) or importlib.util.find_spec(top)
    if found is None:
        raise UserError(f"{where} ({name}): cannot find module {function.split(':')[0]!r}")
    timeout_s = entry.get("timeout_s", DEFAULT_TIMEOUT_S)
    max_output = entry.get("max_output_chars", DEFAULT_MAX_OUTPUT_CHARS)
    if not isinstance(timeout_s, int | float) or timeout_s <= 0 or not isinstance(max_output, int) or max_output <= 0:
        raise UserError(f"{where} ({name}): timeout_s and max_output_chars must be positive numbers")
    description = str(entry.get("description", ""))
    return Tool(name, description, parameters, SubprocessTool(function, float(timeout_s), max_output, search_path))


def load_toolbox(spec: str | None) -> ToolBox | None:
    """The tools `--tools` names: comma-separated built-in names (`calculator`) and .toml/.json files
    of user tools. None or "" → None (no tools)."""
    if not spec:
        return None
    box = ToolBox()
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in BUILTIN_TOOLS:
            tools = [BUILTIN_TOOLS[item]()]
        elif item.endswith((".toml", ".json")):
            tools = read_tools_file(item)
        else:
            raise UserError(
                f"--tools: unknown tool {item!r} (built in: {', '.join(BUILTIN_TOOLS)}; "
                "or a .toml/.json file of tool schemas)"
            )
        for tool in tools:
            if tool.name in box.tools:
                raise UserError(f"--tools: the tool name {tool.name!r} is given twice")
            box.tools[tool.name] = tool
    return box if box.tools else None


if __name__ == "__main__":  # the child process of SubprocessTool
    _run_in_child(sys.argv[1], int(sys.argv[2]))
