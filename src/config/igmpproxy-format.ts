/**
 * igmpproxy's config format (igmpproxy 0.3 / 0.4, as Debian, OpenWrt, VyOS, EdgeRouter and
 * UniFi IPTV scripts write it; docs/igmpproxy-compat.md "Config file"), parsed strictly:
 * every problem is a ConfigError naming the file and the 1-based line.
 *
 *   quickleave                 fast-leave on every downstream
 *   defaultdown                every other multicast interface with an address is a downstream
 *   rescanvif                  accepted: interfaces are always followed
 *   hashtablesize N            accepted and ignored (host tracking has no fixed-size table)
 *   chroot DIR                 accepted with a warning, not applied (docs/igmpproxy-compat.md)
 *   user NAME                  run as NAME once the kernel sockets are open
 *   phyint IF upstream|downstream|disabled [ratelimit N] [threshold N]
 *       altnet NET/LEN ...     upstream: the sources accepted from it
 *       whitelist NET/LEN ...  downstream: groups hosts may join (allow-groups);
 *                              upstream: the groups joined there (groups)
 *       blacklist NET/LEN ...  downstream: groups hosts may not join (deny-groups);
 *                              upstream: groups not joined there (taken out of groups)
 *
 * Several `phyint IF upstream` are several upstreams, in the file's order: a group is
 * joined on the first whose whitelist holds it (and whose blacklist does not).
 *
 * As in igmpproxy the file is a stream of tokens (spaces, tabs and line ends separate
 * them): the options of a phyint may share its line or follow on later lines, indented or
 * not, up to the next top-level directive. A `#` starts a comment that runs to the end of
 * its line. IGMP only (igmpproxy is IPv4-only): MLD is disabled.
 *
 * Whole-file problems (no upstream, no downstream) are reported at the last line of the
 * file (1 for an empty file), where the reader noticed them.
 */
import { containsPrefix, parseCidr, subtractPrefixes } from "./cidr.js";
import {
  DEFAULT_DOWNSTREAM_NAME,
  globalDefaults,
  interfaceDefaults,
  type PartialSettings,
  resolveSettings,
} from "./defaults.js";
import { checkInterfaceName } from "./interface-name.js";
import {
  ConfigError,
  type ConfigWarning,
  type InterfaceConfig,
  type ParsedConfig,
  type ProtocolSettings,
} from "./types.js";
import { shadowedUpstreams } from "./upstream-choice.js";
import { checkVifLimit } from "./vif-limit.js";

/** Directives that start a statement. */
export const IGMPPROXY_DIRECTIVES = [
  "phyint",
  "quickleave",
  "defaultdown",
  "rescanvif",
  "hashtablesize",
  "chroot",
  "user",
] as const;
type Directive = (typeof IGMPPROXY_DIRECTIVES)[number];

const ROLES = ["upstream", "downstream", "disabled"] as const;
type Role = (typeof ROLES)[number];
const LISTS = ["altnet", "whitelist", "blacklist"] as const;
type ListKind = (typeof LISTS)[number];
/** Tokens that continue a phyint statement. */
const PHYINT_OPTIONS: readonly string[] = [...ROLES, ...LISTS, "ratelimit", "threshold"];

/** igmpproxy's limit for hashtablesize (bytes of its quickleave host hash table). */
const HASHTABLESIZE_MAX = 536870912;

interface Token {
  text: string;
  line: number;
}

interface PrefixEntry {
  prefix: string;
  line: number;
}

interface Phyint {
  name: string;
  line: number;
  role: { value: Role; line: number } | undefined;
  ratelimit: number;
  threshold: number;
  lists: Record<ListKind, PrefixEntry[]>;
}

/**
 * The tokens of `text` with their lines. As igmpproxy's reader does, a `#` anywhere starts
 * a comment running to the end of its line (so `altnet 10.0.0.0/8#isp` is `altnet 10.0.0.0/8`).
 */
export function igmpproxyTokens(text: string): Token[] {
  const out: Token[] = [];
  text.split("\n").forEach((raw, index) => {
    const hash = raw.indexOf("#");
    const code = (hash < 0 ? raw : raw.slice(0, hash)).replace(/\r$/, "");
    for (const t of code.split(/[ \t\r]+/)) if (t.length > 0) out.push({ text: t, line: index + 1 });
  });
  return out;
}

/** Parses igmpproxy-format text. `file` is used in errors and stored in the result as given. */
export function parseIgmpproxyConfig(text: string, file: string): ParsedConfig {
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const lastLine = Math.max(1, lines.length);
  const fail: (line: number, reason: string) => never = (line, reason) => {
    throw new ConfigError(file, line, reason);
  };
  const warnings: ConfigWarning[] = [];
  const warn = (line: number, message: string) => warnings.push({ file, line, message });

  const tokens = igmpproxyTokens(text);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const next = (): Token | undefined => tokens[at++];

  const once: Partial<Record<Directive, number>> = {};
  const phyints: Phyint[] = [];
  let user: string | null = null;
  let lastDirective: Token | undefined;

  /** The value token after `what`, which must be on the same statement. */
  const valueAfter = (what: Token, expected: string): Token => {
    const v = peek();
    if (v === undefined || isKeyword(v.text)) fail(what.line, `missing ${expected} after "${what.text}"`);
    return next()!;
  };
  const integer = (tok: Token, what: string, min: number, max: number): number => {
    const n = /^\d{1,10}$/.test(tok.text) ? Number(tok.text) : Number.NaN;
    if (!(n >= min && n <= max))
      fail(tok.line, `bad value "${tok.text}" for ${what}: expected an integer from ${min} to ${max}`);
    return n;
  };

  while (at < tokens.length) {
    const tok = next()!;
    const word = tok.text;
    if (!(IGMPPROXY_DIRECTIVES as readonly string[]).includes(word)) {
      if (PHYINT_OPTIONS.includes(word)) {
        fail(
          tok.line,
          lastDirective === undefined || lastDirective.text === "phyint"
            ? `"${word}" before any phyint: it belongs to the phyint it follows`
            : `"${word}" after "${lastDirective.text}" (line ${lastDirective.line}): it belongs to the phyint it follows`,
        );
      }
      fail(tok.line, `unknown directive "${word}" (expected one of: ${IGMPPROXY_DIRECTIVES.join(", ")})`);
    }
    const directive = word as Directive;
    lastDirective = tok;
    if (directive !== "phyint") {
      const first = once[directive];
      if (first !== undefined) fail(tok.line, `second "${directive}" (first on line ${first})`);
      once[directive] = tok.line;
    }
    switch (directive) {
      case "quickleave":
      case "defaultdown":
      case "rescanvif":
        break;
      case "hashtablesize": {
        integer(valueAfter(tok, "a size in bytes"), "hashtablesize", 1, HASHTABLESIZE_MAX);
        warn(
          tok.line,
          "hashtablesize is ignored: explicit host tracking (quickleave) has no fixed-size table",
        );
        break;
      }
      case "chroot": {
        const dir = valueAfter(tok, "a directory");
        warn(
          tok.line,
          `chroot ${dir.text} is not applied: the daemon re-reads ${file} on reload and reads /proc while it runs, so it keeps the whole file system (see docs/igmpproxy-compat.md)`,
        );
        break;
      }
      case "user": {
        const name = valueAfter(tok, "a user name");
        if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(name.text) || name.text.length > 32)
          fail(name.line, `bad user name "${name.text}"`);
        user = name.text;
        break;
      }
      case "phyint":
        phyints.push(parsePhyint(tok));
        break;
    }
  }

  function parsePhyint(tok: Token): Phyint {
    const nameTok = peek();
    if (nameTok === undefined || isKeyword(nameTok.text))
      fail(tok.line, 'missing interface name after "phyint"');
    next();
    const bad = checkInterfaceName(nameTok!.text);
    if (bad) fail(nameTok!.line, bad);
    const p: Phyint = {
      name: nameTok!.text,
      line: tok.line,
      role: undefined,
      ratelimit: 0,
      threshold: 1,
      lists: { altnet: [], whitelist: [], blacklist: [] },
    };
    const dup = phyints.find((q) => q.name === p.name);
    if (dup) fail(tok.line, `second phyint for "${p.name}" (first on line ${dup.line})`);
    for (let opt = peek(); opt !== undefined && PHYINT_OPTIONS.includes(opt.text); opt = peek()) {
      next();
      const word = opt.text;
      if ((ROLES as readonly string[]).includes(word)) {
        if (p.role)
          fail(
            opt.line,
            `phyint "${p.name}" has a second role "${word}" (it is ${p.role.value}, line ${p.role.line})`,
          );
        p.role = { value: word as Role, line: opt.line };
      } else if (word === "ratelimit") {
        p.ratelimit = integer(valueAfter(opt, "a rate"), "ratelimit", 0, 4294967295);
        if (p.ratelimit !== 0)
          warn(
            opt.line,
            `ratelimit ${p.ratelimit} on "${p.name}" is ignored: Linux does not rate-limit multicast VIFs`,
          );
      } else if (word === "threshold") {
        p.threshold = integer(valueAfter(opt, "a TTL"), "threshold", 1, 255);
      } else {
        const list = p.lists[word as ListKind];
        list.push(prefixEntry(valueAfter(opt, "a prefix NET/LEN"), word as ListKind));
        // igmpproxy 0.4 reads further prefixes after one keyword; a directive never starts with a digit.
        for (let more = peek(); more !== undefined && /^\d/.test(more.text); more = peek()) {
          list.push(prefixEntry(next()!, word as ListKind));
        }
      }
    }
    if (!p.role) fail(tok.line, `phyint "${p.name}" has no role: add upstream, downstream or disabled`);
    return p;
  }

  function prefixEntry(tok: Token, kind: ListKind): PrefixEntry {
    const text = tok.text;
    const cidr = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(text) ? parseCidr(text) : null;
    if (cidr === null || typeof cidr === "string" || cidr.family !== 4) {
      fail(tok.line, `bad ${kind} "${text}": expected an IPv4 prefix a.b.c.d/n`);
    }
    const prefix = cidr!.prefixes[0]!;
    const given = text.includes("/") ? text : `${text}/32`;
    if (prefix.text !== given) {
      fail(
        tok.line,
        `bad ${kind} "${text}": host bits set beyond /${prefix.prefixLength} (igmpproxy never matches such an entry); write ${prefix.text}`,
      );
    }
    if (kind === "altnet") {
      if (MULTICAST.every((m) => containsPrefix(m, prefix)))
        fail(tok.line, `bad altnet "${text}": a multicast prefix; altnet lists unicast sources`);
      return { prefix: prefix.text, line: tok.line };
    }
    // Groups: the part of the prefix inside 224.0.0.0/4 (every group lies there).
    if (containsPrefix(prefix, MULTICAST[0]!)) return { prefix: "224.0.0.0/4", line: tok.line };
    if (!containsPrefix(MULTICAST[0]!, prefix))
      fail(
        tok.line,
        `bad ${kind} "${text}": not a multicast prefix, it matches no group (groups lie in 224.0.0.0/4)`,
      );
    return { prefix: prefix.text, line: tok.line };
  }

  // ------------------------------------------------------------------ whole file
  const ups = phyints.filter((p) => p.role!.value === "upstream");
  const downs = phyints.filter((p) => p.role!.value === "downstream");
  const disabled = phyints.filter((p) => p.role!.value === "disabled");
  if (ups.length === 0) fail(lastLine, 'no upstream: at least one "phyint IF upstream" is required');
  const defaultdown = once.defaultdown;
  if (downs.length === 0 && defaultdown === undefined) {
    fail(lastLine, 'no downstream: add "phyint IF downstream" or "defaultdown"');
  }
  const quickleave = once.quickleave !== undefined;

  for (const p of [...downs, ...disabled]) {
    const first = p.lists.altnet[0];
    if (first) {
      warn(
        first.line,
        p.role!.value === "downstream"
          ? `altnet on downstream "${p.name}" has no effect: reports are accepted from the link's own subnets (RFC 9776 §9)`
          : `altnet on disabled "${p.name}" has no effect`,
      );
    }
  }
  for (const p of disabled) {
    const first = p.lists.whitelist[0] ?? p.lists.blacklist[0];
    if (first) warn(first.line, `whitelist / blacklist on disabled "${p.name}" has no effect`);
  }
  // igmpproxy lets the last matching entry decide; here the blacklist wins over the whitelist.
  for (const p of [...downs, ...ups]) {
    for (const w of p.lists.whitelist) {
      const b = p.lists.blacklist.find((e) => e.line < w.line && coversText(e.prefix, w.prefix));
      if (b) {
        warn(
          w.line,
          `whitelist ${w.prefix} lies inside blacklist ${b.prefix} (line ${b.line}): the blacklist wins here (igmpproxy let the later entry decide)`,
        );
      }
    }
  }

  /**
   * The groups an upstream serves (YAML `groups`): igmpproxy joins a group upstream on an
   * interface only when its whitelist (when it has one) holds the group, and here not when
   * its blacklist does. Empty: every group.
   */
  const groupsOf = (up: Phyint): string[] => {
    const allow = [...new Set(up.lists.whitelist.map((e) => e.prefix))];
    const deny = up.lists.blacklist.map((e) => e.prefix);
    if (deny.length === 0) return allow;
    const groups = subtractPrefixes(allow.length === 0 ? ["224.0.0.0/4"] : allow, deny);
    if (groups.length === 0) {
      fail(
        up.lists.blacklist[0]!.line,
        `the blacklist of upstream "${up.name}" holds every group its whitelist allows: it would serve no group`,
      );
    }
    return groups;
  };
  const igmpOf = (down: Phyint | null): ProtocolSettings => {
    const allowGroups = [...new Set(down?.lists.whitelist.map((e) => e.prefix) ?? [])];
    const denyGroups = [...new Set(down?.lists.blacklist.map((e) => e.prefix) ?? [])];
    const layer: PartialSettings = { fastLeave: quickleave, allowGroups, denyGroups };
    return resolveSettings("igmp", [layer]);
  };
  const iface = (p: Phyint): InterfaceConfig => {
    const up = p.role!.value === "upstream";
    return {
      name: p.name,
      role: up ? "upstream" : "downstream",
      igmp: up ? resolveSettings("igmp", []) : igmpOf(p),
      mld: null,
      ...interfaceDefaults(),
      ttlThreshold: p.threshold,
      groups: up ? groupsOf(p) : [],
      sources: up ? p.lists.altnet.map((e) => e.prefix) : [],
      line: p.line,
    };
  };
  const upstreams = ups.map(iface);
  // The first upstream whose whitelist holds a group serves it (upstream-choice.ts).
  for (const shadow of shadowedUpstreams(upstreams, ["igmp"])) {
    const p = ups[shadow.upstream]!;
    const entry = shadow.entry === null || p.lists.blacklist.length > 0 ? undefined : p.lists.whitelist[shadow.entry];
    warn(entry?.line ?? p.line, shadow.message);
  }
  const downstreams = downs.map(iface);
  const defaultDownstream: InterfaceConfig | null =
    defaultdown === undefined
      ? null
      : {
          name: DEFAULT_DOWNSTREAM_NAME,
          role: "downstream",
          igmp: igmpOf(null),
          mld: null,
          ...interfaceDefaults(),
          line: defaultdown,
        };
  checkVifLimit(upstreams, downstreams, fail);
  return {
    config: {
      file,
      format: "igmpproxy",
      ...globalDefaults(),
      user,
      upstreams,
      downstreams,
      defaultDownstream,
      disabled: disabled.map((p) => p.name),
      igmpEnabled: true,
      mldEnabled: false,
    },
    warnings,
  };
}

const MULTICAST = [parseCidr("224.0.0.0/4")].map((c) => (c as Exclude<typeof c, string>).prefixes[0]!);

/** Whether prefix text `outer` contains prefix text `inner`. */
function coversText(outer: string, inner: string): boolean {
  const a = parseCidr(outer);
  const b = parseCidr(inner);
  return typeof a !== "string" && typeof b !== "string" && containsPrefix(a.prefixes[0]!, b.prefixes[0]!);
}

/** A token that begins a statement or a phyint option: never a value. */
function isKeyword(text: string): boolean {
  return (IGMPPROXY_DIRECTIVES as readonly string[]).includes(text) || PHYINT_OPTIONS.includes(text);
}

/**
 * Whether `text` is in igmpproxy's format: its first directive is one only igmpproxy has
 * (phyint, defaultdown, ...), or `quickleave` not followed by IMProxy's enable / disable.
 */
export function looksLikeIgmpproxy(text: string): boolean {
  const tokens = igmpproxyTokens(text);
  const first = tokens[0];
  if (first === undefined || !(IGMPPROXY_DIRECTIVES as readonly string[]).includes(first.text)) return false;
  if (first.text !== "quickleave") return true;
  const arg = tokens[1];
  return !(arg !== undefined && arg.line === first.line && (arg.text === "enable" || arg.text === "disable"));
}
