/**
 * Shell completion scripts, generated from the commander program tree, so a new command, flag or
 * argument is completed without touching this file. Commands, flags and fixed choices are written
 * into the script (completing them starts no process); live values (agent names, task ids, CLI
 * presets) come from `tt __complete <kind>`, run only when such a value is being completed.
 */
import type { Command, Option } from "commander";
import { TASK_STATES } from "../core/schemas.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = typeof SHELLS[number];

/**
 * What a value is: "-" free text, "@<kind>" a live value (`tt __complete <kind>`), "@file",
 * "@dir", or "=a,b,c" fixed choices. A positional kind ending in "..." repeats.
 */
type Kind = string;

/** Argument and option-value names that mean the same thing everywhere. */
const BY_NAME: Record<string, Kind> = {
  agent: "@agents",
  agents: "@agents",
  to: "@recipients",
  task: "@tasks",
  cli: "@presets",
  file: "@file",
  dir: "@dir",
};

/** Values whose choices commander does not know (keyed "<command path>|<argument or flag>"). */
const OVERRIDES: Record<string, Kind> = {
  "tt sync|direction": "=push,pull",
  "tt config|key": "=default_cli,conductor_cli,redis_url",
  "tt task list|--state": `=${TASK_STATES.join(",")}`,
};

export interface Node {
  /** "tt", "tt task", "tt task list" … */
  path: string;
  subs: string[];
  /** One-line description of each of `subs` (shown by zsh and fish). */
  descs: string[];
  flags: string[];
  /** Flags that take a value → the value's kind. */
  values: Record<string, Kind>;
  args: Kind[];
}

function optionKind(path: string, o: Option): Kind | undefined {
  if (!o.required && !o.optional) return undefined;
  for (const flag of [o.long, o.short]) {
    if (flag && OVERRIDES[`${path}|${flag}`]) return OVERRIDES[`${path}|${flag}`];
  }
  if (o.argChoices?.length) return `=${o.argChoices.join(",")}`;
  const name = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1]?.replace(/\.\.\.$/, "");
  return (name && BY_NAME[name]) || "-";
}

/** Every visible command of the tree, depth first, with its flags and arguments' kinds. */
export function completionModel(program: Command): Node[] {
  const help = program.createHelp();
  const globals = program.options.filter((o) => o.long !== "--version");
  const nodes: Node[] = [];
  const walk = (cmd: Command, path: string) => {
    const subs = help.visibleCommands(cmd);
    const options = [...help.visibleOptions(cmd), ...(cmd === program ? [] : globals)];
    const values: Record<string, Kind> = {};
    const flags: string[] = [];
    for (const o of options) {
      const kind = optionKind(path, o);
      for (const f of [o.long, o.short]) {
        if (!f) continue;
        flags.push(f);
        if (kind) values[f] = kind;
      }
    }
    const args = cmd.registeredArguments.map((a) => {
      const kind = OVERRIDES[`${path}|${a.name()}`] ??
        (a.argChoices?.length ? `=${a.argChoices.join(",")}` : undefined) ??
        (path === "tt help" && a.name() === "command"
          ? `=${help.visibleCommands(program).map((c) => c.name()).join(",")}`
          : undefined) ??
        BY_NAME[a.name()] ?? "-";
      return a.variadic ? `${kind}...` : kind;
    });
    nodes.push({
      path,
      subs: subs.map((c) => c.name()),
      descs: subs.map((c) => c.description().replace(/\s+/g, " ").trim()),
      flags: [...new Set(flags)],
      values,
      args,
    });
    for (const s of subs) {
      if (s.name() !== "help" || cmd === program) walk(s, `${path} ${s.name()}`);
    }
  };
  walk(program, "tt");
  for (const n of nodes) for (const w of [n.path, ...n.subs, ...n.flags, ...n.args]) safe(w);
  for (const n of nodes) for (const v of Object.values(n.values)) safe(v);
  return nodes;
}

/** Everything written into a script is a plain word: nothing a shell would expand or split. */
function safe(word: string): string {
  if (!/^[A-Za-z0-9@=,._: -]*$/.test(word)) {
    throw new Error(`cannot put '${word}' into a completion script`);
  }
  return word;
}

export function completionScript(shell: Shell, program: Command): string {
  const nodes = completionModel(program);
  return shell === "bash" ? bash(nodes) : shell === "zsh" ? zsh(nodes) : fish(nodes);
}

/** `[key]="value"` pairs of an associative array, one per line. */
function pairs(entries: [string, string][], fmt: (k: string, v: string) => string): string {
  return entries.map(([k, v]) => `  ${fmt(k, v)}`).join("\n");
}

type Pair = [string, string];

/** The four lookup tables every script carries, as key/value pairs. */
function tables(nodes: Node[]): Record<string, Pair[]> {
  return {
    subs: nodes.filter((n) => n.subs.length).map((n): Pair => [n.path, n.subs.join(" ")]),
    flags: nodes.map((n): Pair => [n.path, n.flags.join(" ")]),
    values: nodes.flatMap((n) =>
      Object.entries(n.values).map(([f, k]): Pair => [`${n.path}|${f}`, k])
    ),
    args: nodes.filter((n) => n.args.length).map((n): Pair => [n.path, n.args.join(" ")]),
    /** "name:description" lines (zsh's _describe format; fish swaps ':' for a tab). */
    descs: nodes.filter((n) => n.subs.length).map((n): Pair => [
      n.path,
      n.subs.map((c, i) => `${c}:${n.descs[i]}`).join("\n"),
    ]),
  };
}

function bash(nodes: Node[]): string {
  const t = tables(nodes);
  const arr = (name: string) =>
    `declare -gA _tt_${name}=(\n${pairs(t[name], (k, v) => `["${k}"]="${v}"`)}\n)`;
  return `# bash completion for tt, generated by 'tt completion bash'.
# Install: tt completion bash > ~/.local/share/bash-completion/completions/tt
#      or: echo 'source <(tt completion bash)' >> ~/.bashrc
${arr("subs")}
${arr("flags")}
${arr("values")}
${arr("args")}
${arr("descs")}

_tt() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath=tt w want="" kind="" words="" i n=0 k
  local -a town=() a=()
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ -n $want ]]; then
      [[ $w == "=" ]] && continue
      want=""
      continue
    fi
    case "$w" in
      --*=* | =) ;;
      -*)
        want="\${_tt_values["$cmdpath|$w"]:-\${_tt_values["tt|$w"]:-}}"
        [[ $w == -t || $w == --town ]] && ((i + 1 < COMP_CWORD)) && town=(--town "\${COMP_WORDS[i + 1]}")
        ;;
      *)
        k="\${_tt_subs["$cmdpath"]:-}"
        if ((n == 0)) && [[ " $k " == *" $w "* ]]; then cmdpath="$cmdpath $w"; else n=$((n + 1)); fi
        ;;
    esac
  done
  [[ $cur == "=" ]] && cur=""
  if [[ -n $want ]]; then
    kind=$want
  elif [[ $cur == -* ]]; then
    kind="=\${_tt_flags["$cmdpath"]:-}"
  elif ((n == 0)) && [[ -n \${_tt_subs["$cmdpath"]:-} ]]; then
    kind="=\${_tt_subs["$cmdpath"]}"
  else
    read -ra a <<<"\${_tt_args["$cmdpath"]:-}"
    if ((n < \${#a[@]})); then
      kind=\${a[n]}
    elif ((\${#a[@]})) && [[ \${a[\${#a[@]} - 1]} == *... ]]; then
      kind=\${a[\${#a[@]} - 1]}
    fi
    kind=\${kind%...}
  fi
  case "$kind" in
    @file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
    @dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return 0 ;;
    @*) words=$("\${COMP_WORDS[0]}" "\${town[@]}" __complete "\${kind#@}" 2>/dev/null) ;;
    =*) words=\${kind#=}; words=\${words//[, ]/$'\\n'} ;;
    *) return 0 ;;
  esac
  local IFS=$'\\n'
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  return 0
}
complete -F _tt tt
`;
}

/** A zsh or POSIX single-quoted string. */
const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function zsh(nodes: Node[]): string {
  const t = tables(nodes);
  const arr = (name: string) =>
    `typeset -gA _tt_${name}\n_tt_${name}=(\n${pairs(t[name], (k, v) => `${sq(k)} ${sq(v)}`)}\n)`;
  return `#compdef tt
# zsh completion for tt, generated by 'tt completion zsh'.
# Install: tt completion zsh > "\${fpath[1]}/_tt"   (a directory on $fpath; then restart zsh)
#      or: echo 'source <(tt completion zsh)' >> ~/.zshrc   (after compinit)
${arr("subs")}
${arr("flags")}
${arr("values")}
${arr("args")}
${arr("descs")}

_tt() {
  local cur=\${words[CURRENT]} cmdpath=tt w want= kind= key i n=0
  local -a town a vals
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    if [[ -n $want ]]; then
      want=
      continue
    fi
    case $w in
      --*=*) ;;
      -*)
        key="$cmdpath|$w"
        want=\${_tt_values[$key]}
        [[ -z $want ]] && key="tt|$w" && want=\${_tt_values[$key]}
        [[ ( $w == -t || $w == --town ) && i+1 -lt CURRENT ]] && town=(--town \${words[i+1]})
        ;;
      *)
        if (( n == 0 )) && [[ " \${_tt_subs[$cmdpath]} " == *" $w "* ]]; then
          cmdpath="$cmdpath $w"
        else
          (( n++ ))
        fi
        ;;
    esac
  done
  if [[ -n $want ]]; then
    kind=$want
  elif [[ $cur == -* ]]; then
    compadd -- \${=_tt_flags[$cmdpath]}
    return
  elif (( n == 0 )) && [[ -n \${_tt_subs[$cmdpath]} ]]; then
    if (( $+functions[_describe] )); then
      local -a described
      described=(\${(f)_tt_descs[$cmdpath]})
      _describe -t commands 'tt command' described
    else
      compadd -- \${=_tt_subs[$cmdpath]}
    fi
    return
  else
    a=(\${=_tt_args[$cmdpath]})
    if (( n < \${#a} )); then
      kind=\${a[n+1]}
    elif (( \${#a} )) && [[ \${a[-1]} == *... ]]; then
      kind=\${a[-1]}
    fi
    kind=\${kind%...}
  fi
  case $kind in
    @file) _files ;;
    @dir) _files -/ ;;
    @*)
      vals=(\${(f)"$(\${words[1]} $town __complete \${kind#@} 2>/dev/null)"})
      compadd -- $vals
      ;;
    '='*) compadd -- \${(s:,:)\${kind#=}} ;;
  esac
}

if [[ \${funcstack[1]} == _tt ]]; then
  _tt "$@"
elif (( $+functions[compdef] )); then
  compdef _tt tt
fi
`;
}

function fish(nodes: Node[]): string {
  const t = tables(nodes);
  /** A fish single-quoted string (only \\ and ' are special in it). */
  const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  const sw = (name: string, arg: string) =>
    `function __tt_${name}\n    switch ${arg}\n${
      t[name].map(([k, v]) =>
        `        case ${fq(k)}\n            ${
          name === "descs"
            ? `printf '%s\\n' ${v.split("\n").map((l) => fq(l.replace(":", "\t"))).join(" ")}`
            : `echo ${fq(v)}`
        }`
      ).join("\n")
    }\n    end\nend`;
  return `# fish completion for tt, generated by 'tt completion fish'.
# Install: tt completion fish > ~/.config/fish/completions/tt.fish
${sw("subs", '"$argv[1]"')}
${sw("flags", '"$argv[1]"')}
${sw("values", '"$argv[1]"')}
${sw("args", '"$argv[1]"')}
${sw("descs", '"$argv[1]"')}

function __tt_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l cmdpath tt
    set -l want ''
    set -l town
    set -l n 0
    set -l kind ''
    for i in (seq 2 (count $tokens))
        set -l w $tokens[$i]
        if test -n "$want"
            set want ''
            continue
        end
        switch $w
            case '--*=*'
            case '-*'
                set want (__tt_values "$cmdpath|$w")
                test -z "$want"; and set want (__tt_values "tt|$w")
                if contains -- $w -t --town; and test $i -lt (count $tokens)
                    set town --town $tokens[(math $i + 1)]
                end
            case '*'
                if test $n -eq 0; and contains -- $w (string split ' ' -- (__tt_subs "$cmdpath"))
                    set cmdpath "$cmdpath $w"
                else
                    set n (math $n + 1)
                end
        end
    end
    if test -n "$want"
        set kind $want
    else if string match -q -- '-*' $cur
        string split ' ' -- (__tt_flags "$cmdpath")
        return
    else if test $n -eq 0; and set -l subs (__tt_subs "$cmdpath"); and test -n "$subs"
        __tt_descs "$cmdpath"
        return
    else
        set -l a (string split -n ' ' -- (__tt_args "$cmdpath"))
        if test $n -lt (count $a)
            set kind $a[(math $n + 1)]
        else if test (count $a) -gt 0; and string match -q -- '*...' $a[-1]
            set kind $a[-1]
        end
        set kind (string replace -r -- '\\.\\.\\.$' '' "$kind")
    end
    switch "$kind"
        case '@file'
            __fish_complete_path $cur
        case '@dir'
            __fish_complete_directories $cur
        case '@*'
            $tokens[1] $town __complete (string sub -s 2 -- $kind) 2>/dev/null
        case '=*'
            string split ',' -- (string sub -s 2 -- $kind)
    end
end

complete -c tt -f -a '(__tt_complete)'
`;
}
