/* nvbind completion bash|zsh|fish: shell completion scripts printed from the command table
 * (cli_table.h), so a new command or option completes as soon as it is in the table. bash
 * and zsh share the table's data as POSIX functions (one case per command path) and each
 * has its own walker over the words typed; fish gets `complete` lines. */
#include "cli.h"
#include "runtime/engine_opts.h"

#include <stdio.h>
#include <string.h>

/* Visit every command with its path ("" for the root, "cdi generate"). */
typedef void (*visit_fn)(FILE *f, const nvb_cli_cmd *cmd, const char *path);

static void walk(FILE *f, const nvb_cli_cmd *cmd, const char *path, visit_fn fn)
{
    fn(f, cmd, path);
    for (size_t i = 0; cmd->subs && cmd->subs[i]; i++) {
        char sub[160];
        int n = snprintf(sub, sizeof sub, "%s%s%s", path, *path ? " " : "", cmd->subs[i]->name);
        if (n > 0 && (size_t)n < sizeof sub) /* the table's paths are two short words */
            walk(f, cmd->subs[i], sub, fn);
    }
}

static bool takes_separate_value(const nvb_cli_opt *o)
{
    return o->arg && !(o->flags & NVB_OPT_OPTIONAL);
}

/* nvbind run passes the engines' options through: the walkers skip the values of those that
 * take one ("-v /a:/b IMAGE"), so IMAGE is still found. Their names are not offered. */
static void engine_valopts(FILE *f, const char *path, const char *sep)
{
    if (strcmp(path, "run") != 0)
        return;
    for (size_t i = 0; nvb_engine_opt_at(i); i++) {
        const nvb_engine_opt *e = nvb_engine_opt_at(i);
        if (!e->takes_value)
            continue;
        fprintf(f, "%s--%s", sep, e->name);
        if (e->short_name)
            fprintf(f, " -%c", e->short_name);
    }
}

static void sub_names(FILE *f, const nvb_cli_cmd *cmd)
{
    for (size_t i = 0; cmd->subs && cmd->subs[i]; i++)
        fprintf(f, "%s%s", i ? " " : "", cmd->subs[i]->name);
}

static void operand_words(FILE *f, const nvb_cli_cmd *cmd)
{
    if (cmd->operand_words && strcmp(cmd->operand_words, "@commands") == 0)
        sub_names(f, &nvb_cli_root);
    else if (cmd->operand_words)
        fputs(cmd->operand_words, f);
}

/* ---- bash and zsh: the data ---------------------------------------------------------------- */

static void sh_subs(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    if (!cmd->subs)
        return;
    fprintf(f, "    '%s') echo '", path);
    sub_names(f, cmd);
    fputs("' ;;\n", f);
}

static void sh_operands(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    if (!cmd->operand_words)
        return;
    fprintf(f, "    '%s') echo '", path);
    operand_words(f, cmd);
    fputs("' ;;\n", f);
}

static void sh_opts(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    fprintf(f, "    '%s') echo '", path);
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++)
        fprintf(f, "--%s%s ", o->name, o->flags & NVB_OPT_OPTIONAL ? "=" : "");
    fputs("--help' ;;\n", f);
}

static void sh_valopts(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    fprintf(f, "    '%s') echo '", path);
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++) {
        if (!takes_separate_value(o))
            continue;
        fprintf(f, "--%s ", o->name);
        if (o->short_name)
            fprintf(f, "-%c ", o->short_name);
    }
    engine_valopts(f, path, " ");
    fputs("' ;;\n", f);
}

static void sh_values(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++) {
        if (!takes_separate_value(o) || o->complete == NVB_COMPLETE_NONE)
            continue;
        const char *what = o->complete == NVB_COMPLETE_WORDS ? o->words
                           : o->complete == NVB_COMPLETE_DIR ? "@dir"
                                                             : "@file";
        fprintf(f, "    '%s|--%s'", path, o->name);
        if (o->short_name)
            fprintf(f, " | '%s|-%c'", path, o->short_name);
        fprintf(f, ") echo '%s' ;;\n", what);
    }
}

static void sh_data(FILE *f)
{
    static const struct {
        const char *fn;
        visit_fn visit;
    } parts[] = {{"_nvbind_subs", sh_subs}, {"_nvbind_operands", sh_operands}, {"_nvbind_opts", sh_opts},
                 {"_nvbind_valopts", sh_valopts}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        fprintf(f, "%s() {\n    case \"$1\" in\n", parts[i].fn);
        walk(f, &nvb_cli_root, "", parts[i].visit);
        fputs("    esac\n}\n", f);
    }
    fputs("_nvbind_values() {\n    case \"$1|$2\" in\n", f);
    walk(f, &nvb_cli_root, "", sh_values);
    fputs("    esac\n}\n", f);
}

/* The walker, the same in both shells but for how the words arrive: it leaves in $path the
 * command path typed so far, in $operand whether an operand was typed after it, and in $prev
 * the word before the cursor. */
static const char sh_walk[] =
    "_nvbind_walk() {\n"
    "    _nvb_path='' _nvb_operand=0 _nvb_prev='' _nvb_skip=0\n"
    "    local w\n"
    "    for w in \"$@\"; do\n"
    "        _nvb_prev=$w\n"
    "        if [ $_nvb_skip = 1 ]; then _nvb_skip=0; continue; fi\n"
    "        [ $_nvb_operand = 1 ] && continue\n"
    "        case $w in\n"
    "        --) _nvb_operand=1; continue ;;\n"
    "        -*) case \" $(_nvbind_valopts \"$_nvb_path\") \" in *\" $w \"*) _nvb_skip=1 ;; esac; continue ;;\n"
    "        esac\n"
    "        case \" $(_nvbind_subs \"$_nvb_path\") \" in\n"
    "        *\" $w \"*) _nvb_path=${_nvb_path:+$_nvb_path }$w ;;\n"
    "        *) _nvb_operand=1 ;;\n"
    "        esac\n"
    "    done\n"
    "}\n"
    "# The words to offer for the word being typed ($1): a list, or @file / @dir.\n"
    "_nvbind_candidates() {\n"
    "    case \" $(_nvbind_valopts \"$_nvb_path\") \" in\n"
    "    *\" $_nvb_prev \"*) if [ $_nvb_skip = 1 ]; then _nvbind_values \"$_nvb_path\" \"$_nvb_prev\"; echo; return; fi ;;\n"
    "    esac\n"
    "    case $1 in\n"
    "    -*) _nvbind_opts \"$_nvb_path\"; return ;;\n"
    "    esac\n"
    "    if [ $_nvb_operand = 0 ] && [ -n \"$(_nvbind_subs \"$_nvb_path\")\" ]; then _nvbind_subs \"$_nvb_path\"; return; fi\n"
    "    local ow\n"
    "    ow=$(_nvbind_operands \"$_nvb_path\")\n"
    "    if [ -n \"$ow\" ] && [ $_nvb_operand = 0 ]; then echo \"$ow\"; return; fi\n"
    "    echo @file\n"
    "}\n";

static void print_bash(FILE *f)
{
    fputs("# bash completion for nvbind; printed by `nvbind completion bash` from its command table.\n", f);
    sh_data(f);
    fputs(sh_walk, f);
    fputs("_nvbind() {\n"
          "    local cur words cword _nvb_path _nvb_operand _nvb_prev _nvb_skip c\n"
          "    # readline splits /a:/b and --x=y at ':' and '='; bash-completion joins them again\n"
          "    if declare -F _get_comp_words_by_ref >/dev/null; then\n"
          "        _get_comp_words_by_ref -n =: cur words cword\n"
          "    else\n"
          "        cur=${COMP_WORDS[COMP_CWORD]} words=(\"${COMP_WORDS[@]}\") cword=$COMP_CWORD\n"
          "    fi\n"
          "    _nvbind_walk \"${words[@]:1:cword-1}\"\n"
          "    c=$(_nvbind_candidates \"$cur\")\n"
          "    case $c in\n"
          "    @dir) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
          "    @file|'') COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
          "    *) COMPREPLY=($(compgen -W \"$c\" -- \"$cur\")) ;;\n"
          "    esac\n"
          "    # an option that takes its value after '=' gets no space after it\n"
          "    [[ ${COMPREPLY[0]-} == *= ]] && compopt -o nospace 2>/dev/null\n"
          "    return 0\n"
          "}\n"
          "complete -F _nvbind nvbind\n",
          f);
}

static void print_zsh(FILE *f)
{
    fputs("#compdef nvbind\n"
          "# zsh completion for nvbind; printed by `nvbind completion zsh` from its command table.\n"
          "# Install as _nvbind in a folder of $fpath, or source it after compinit.\n",
          f);
    sh_data(f);
    fputs(sh_walk, f);
    fputs("_nvbind() {\n"
          "    local _nvb_path _nvb_operand _nvb_prev _nvb_skip c\n"
          "    _nvbind_walk \"${(@)words[2,CURRENT-1]}\"\n"
          "    c=$(_nvbind_candidates \"$PREFIX\")\n"
          "    case $c in\n"
          "    @dir) _files -/ ;;\n"
          "    @file|'') _files ;;\n"
          "    *) compadd -- ${=c} ;;\n"
          "    esac\n"
          "}\n"
          "if [ \"${funcstack[1]}\" = _nvbind ]; then _nvbind \"$@\"; else compdef _nvbind nvbind; fi\n",
          f);
}

/* ---- fish ---------------------------------------------------------------------------------- */

/* A fish single-quoted string: only \ and ' are special there. Help's first line only. */
static void fish_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s && *s != '\n'; s++) {
        if (*s == '\'' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* The condition under which path's words apply: the command line's path is exactly it. */
static void fish_cond(FILE *f, const char *path)
{
    fprintf(f, " -n '__nvbind_path_is \"%s\"'", path);
}

static void fish_cmd(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    for (size_t i = 0; cmd->subs && cmd->subs[i]; i++) {
        fputs("complete -c nvbind -f", f);
        fish_cond(f, path);
        fprintf(f, " -a %s -d ", cmd->subs[i]->name);
        fish_quote(f, cmd->subs[i]->summary);
        fputc('\n', f);
    }
    if (cmd->operand_words) {
        fputs("complete -c nvbind -f", f);
        fish_cond(f, path);
        fputs(" -a '", f);
        operand_words(f, cmd);
        fputs("'\n", f);
    }
    const nvb_cli_opt help = {"help", 'h', 'h', NULL, 0, "show the help", NVB_COMPLETE_NONE, NULL};
    for (const nvb_cli_opt *o = cmd->opts;; o++) {
        if (!o || !o->name)
            o = &help;
        fputs("complete -c nvbind", f);
        fish_cond(f, path);
        fprintf(f, " -l %s", o->name);
        if (o->short_name)
            fprintf(f, " -s %c", o->short_name);
        if (o->arg && (o->flags & NVB_OPT_OPTIONAL))
            fputs(" -x", f); /* --wait=SECONDS: nothing to offer */
        else if (o->arg && o->complete == NVB_COMPLETE_WORDS)
            fprintf(f, " -x -a '%s'", o->words);
        else if (o->arg && o->complete == NVB_COMPLETE_DIR)
            fputs(" -x -a '(__fish_complete_directories)'", f);
        else if (o->arg && o->complete == NVB_COMPLETE_FILE)
            fputs(" -r -F", f);
        else if (o->arg)
            fputs(" -x", f);
        fputs(" -d ", f);
        fish_quote(f, o->help);
        fputc('\n', f);
        if (o == &help)
            break;
    }
}

static void fish_valopts(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    fprintf(f, "        case '%s'\n            set v", path);
    for (const nvb_cli_opt *o = cmd->opts; o && o->name; o++) {
        if (!takes_separate_value(o))
            continue;
        fprintf(f, " --%s", o->name);
        if (o->short_name)
            fprintf(f, " -%c", o->short_name);
    }
    engine_valopts(f, path, " ");
    fputc('\n', f);
}

static void fish_subs(FILE *f, const nvb_cli_cmd *cmd, const char *path)
{
    if (!cmd->subs)
        return;
    fprintf(f, "        case '%s'\n            set s ", path);
    sub_names(f, cmd);
    fputc('\n', f);
}

static void print_fish(FILE *f)
{
    fputs("# fish completion for nvbind; printed by `nvbind completion fish` from its command table.\n"
          "function __nvbind_valopts\n    set -l v\n    switch $argv[1]\n",
          f);
    walk(f, &nvb_cli_root, "", fish_valopts);
    fputs("    end\n    string split ' ' -- $v\nend\n"
          "function __nvbind_subs\n    set -l s\n    switch $argv[1]\n",
          f);
    walk(f, &nvb_cli_root, "", fish_subs);
    fputs("    end\n    string split ' ' -- $s\nend\n"
          "# The command path typed before the cursor (\"cdi generate\"); operands end it.\n"
          "function __nvbind_path\n"
          "    set -l path ''\n"
          "    set -l skip 0\n"
          "    for w in (commandline -opc)[2..-1]\n"
          "        if test $skip = 1\n            set skip 0\n            continue\n        end\n"
          "        switch $w\n"
          "            case '--'\n                break\n"
          "            case '-*'\n"
          "                contains -- $w (__nvbind_valopts \"$path\"); and set skip 1\n"
          "                continue\n"
          "        end\n"
          "        contains -- $w (__nvbind_subs \"$path\"); or break\n"
          "        set path (string trim -- \"$path $w\")\n"
          "    end\n"
          "    echo $path\n"
          "end\n"
          "function __nvbind_path_is\n    test (__nvbind_path) = \"$argv[1]\"\nend\n"
          "complete -c nvbind -e\n",
          f);
    walk(f, &nvb_cli_root, "", fish_cmd);
}

static int cmd_completion(nvb_cli *cli, int argc, char **argv)
{
    nvb_cli_parser p;
    if (nvb_cli_parse_json(&p, cli, argc, argv, -1, NULL))
        return p.rc;
    if (argc - optind != 1)
        return nvb_cli_usage("completion", "name one shell: bash, zsh or fish (see nvbind completion --help)");
    const char *shell = argv[optind];
    if (strcmp(shell, "bash") == 0)
        print_bash(stdout);
    else if (strcmp(shell, "zsh") == 0)
        print_zsh(stdout);
    else if (strcmp(shell, "fish") == 0)
        print_fish(stdout);
    else
        return nvb_cli_usage("completion", "unknown shell '%s' (bash, zsh or fish)", shell);
    return fflush(stdout) ? NVB_EXIT_IO : 0;
}

const nvb_cli_cmd nvb_cmd_completion = {
    .name = "completion",
    .operands = "bash|zsh|fish",
    .summary = "print the shell completion script of bash, zsh or fish",
    .details = "bash: source it, or install it as /usr/share/bash-completion/completions/nvbind;\n"
               "zsh: install it as _nvbind in a folder of $fpath; fish: as\n"
               "/usr/share/fish/vendor_completions.d/nvbind.fish.",
    .operand_words = "bash zsh fish",
    .fn = cmd_completion,
};
