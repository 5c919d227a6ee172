// The part of madge 8's API the architecture test uses (madge ships no type declarations).
declare module 'madge' {
  interface MadgeConfig {
    /** the directory file names in the graph are relative to */
    baseDir?: string;
    excludeRegExp?: RegExp[];
    fileExtensions?: string[];
    /** a tsconfig.json path: its module resolution maps `./x.js` specifiers to `./x.ts` */
    tsConfig?: string;
    detectiveOptions?: { ts?: { skipTypeImports?: boolean; mixedImports?: boolean } };
  }

  interface MadgeResult {
    /** each file and the files it imports */
    obj(): Record<string, string[]>;
    /** `skipped`: imports madge could not resolve to a file */
    warnings(): { skipped: string[] };
    /** each cycle as the files on it */
    circular(): string[][];
  }

  function madge(path: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
  export default madge;
}
