# Sourced by the setup scripts (which define `say` and `die`): is_py312 PATH; find_python, which
# prints a Python 3.12 interpreter ($PYTHON if set, else pyenv's $PYENV_VERSION, else the highest
# 3.12.x under pyenv, else python3.12 on PATH) or dies; and make_venv.

is_py312() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null; }

find_python() {
    if [ -n "${PYTHON:-}" ]; then
        is_py312 "$PYTHON" || die "PYTHON=$PYTHON is not a Python 3.12 interpreter"
        echo "$PYTHON"; return
    fi
    local root="" cand=""
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || true)"; fi
    root="${root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    if [ -n "${PYENV_VERSION:-}" ] && is_py312 "$root/versions/$PYENV_VERSION/bin/python3.12"; then
        echo "$root/versions/$PYENV_VERSION/bin/python3.12"; return
    fi
    # Highest installed 3.12.x under pyenv.
    for cand in $(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -V -r); do
        if is_py312 "$cand/bin/python3.12"; then echo "$cand/bin/python3.12"; return; fi
    done
    cand="$(command -v python3.12 2>/dev/null || true)"
    if [ -n "$cand" ] && is_py312 "$cand"; then echo "$cand"; return; fi
    die "Python 3.12 not found: install it (for example 'pyenv install 3.12.1') or set PYTHON=/path/to/python3.12"
}

# make_venv DIR REQUIREMENTS: a fresh virtual environment in DIR on find_python's interpreter,
# with the pinned REQUIREMENTS installed and checked.
make_venv() {
    local py
    py="$(find_python)"
    say "creating $1 with $py"
    rm -rf "$1"
    "$py" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$2"
    "$1/bin/python" -m pip check >/dev/null || die "pip check failed in $1"
}
