/** Configuration: both formats (IMProxy lines, YAML) to one validated ImproxyConfig. */
export { configToJson, formatConfig } from "./format.js";
export { parseImproxyConfig } from "./improxy-format.js";
export { formatOf, loadConfig, loadConfigWithWarnings, parseConfigText } from "./load.js";
export { CONFIG_SCHEMA } from "./schema.js";
export { ConfigError, type ImproxyConfig, type InterfaceConfig, type ProtocolSettings } from "./types.js";
export { type ConfigWarning, type ParsedConfig, parseYamlConfig } from "./yaml-format.js";
