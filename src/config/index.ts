/** Configuration: every format (IMProxy lines, igmpproxy, YAML) to one validated ImproxyConfig. */
export { configToJson, formatConfig } from "./format.js";
export { looksLikeIgmpproxy, parseIgmpproxyConfig } from "./igmpproxy-format.js";
export { parseImproxyConfig } from "./improxy-format.js";
export { formatOf, loadConfig, loadConfigWithWarnings, parseConfigText, readConfigFile } from "./load.js";
export { CONFIG_SCHEMA } from "./schema.js";
export {
  ConfigError,
  type ConfigWarning,
  type ImproxyConfig,
  type InterfaceConfig,
  type ParsedConfig,
  type ProtocolSettings,
} from "./types.js";
export { parseYamlConfig } from "./yaml-format.js";
