// typescript-eslint with type information (no-floating-promises and friends) over everything that is
// TypeScript; `npm test` runs it. Editor scripts in nodes/*/*.html are checked by the browser tests.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "examples/**", "node_modules/**", ".cache/**", "**/*.mjs", "**/*.cjs", "**/*.js", "!resources/**/*.js"] },
  // Editor-side scripts (plain browser JavaScript served to the editor): the recommended rules only.
  {
    files: ["resources/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      sourceType: "script",
      globals: { RED: "readonly", $: "readonly", window: "readonly", document: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
  },
  { files: ["**/*.ts"], ...js.configs.recommended },
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ["**/*.ts"] })),
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./tsconfig.test.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false } }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Node-RED's RED.* API and parsed JSON are typed loosely; narrowing happens where values are used.
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true, allowNullish: true }],
      // `const node = this` is Node-RED's idiom for a node's constructor and its handlers.
      "@typescript-eslint/no-this-alias": "off",
    },
  },
  {
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off", "@typescript-eslint/no-require-imports": "off" },
  },
);
