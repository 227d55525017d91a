/**
 * `/js/<file>` and `/favicon.ico`: the few static files the HTML pages load (brpc's
 * `/js/jquery_min`, `/js/flot_min`). The files are a fixed whitelist; nothing of the
 * request's path is ever used to build a file name. uPlot's two files are located in
 * node_modules once (module resolution, not the URL) and read on first use.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { ErrorCode } from "../errors/errno.js";
import { CompressType } from "../protocol/compress.js";
import type { ServerContext } from "../server/context.js";
import { BRPC_CSS, CHARTS_JS, FAVICON_SVG } from "./charts-js.js";

interface Asset {
  readonly contentType: string;
  /** The content, or where to read it from. */
  readonly text?: string;
  readonly file?: string | undefined;
}

function resolveUplot(file: string): string | undefined {
  try {
    return createRequire(import.meta.url).resolve(`uplot/dist/${file}`);
  } catch {
    return undefined;
  }
}

/** The whitelist: URL file name -> content. */
const ASSETS = new Map<string, Asset>([
  [
    "uplot.min.js",
    { contentType: "text/javascript; charset=utf-8", file: resolveUplot("uPlot.iife.min.js") },
  ],
  ["uplot.min.css", { contentType: "text/css; charset=utf-8", file: resolveUplot("uPlot.min.css") }],
  ["brpc-charts.js", { contentType: "text/javascript; charset=utf-8", text: CHARTS_JS }],
  ["brpc.css", { contentType: "text/css; charset=utf-8", text: BRPC_CSS }],
]);

const loaded = new Map<string, Promise<Buffer | undefined>>();

function load(name: string, asset: Asset): Promise<Buffer | undefined> {
  let p = loaded.get(name);
  if (p === undefined) {
    const file = asset.file;
    p =
      asset.text !== undefined
        ? Promise.resolve(Buffer.from(asset.text, "utf8"))
        : file === undefined
          ? Promise.resolve(undefined)
          : readFile(file).catch(() => undefined);
    loaded.set(name, p);
  }
  return p;
}

/** The names `/js/` serves. */
export function assetNames(): string[] {
  return [...ASSETS.keys()];
}

/** `/js/<name>`: one of the whitelisted files, else 404. */
export async function jsService(ctx: ServerContext): Promise<void> {
  const name = ctx.unresolvedPath;
  const asset = ASSETS.get(name);
  if (asset === undefined) {
    ctx.setFailed(ErrorCode.ENOMETHOD, "No such file");
    return;
  }
  const body = await load(name, asset);
  if (body === undefined) {
    ctx.setFailed(ErrorCode.ENOMETHOD, `${name} is not installed (npm package uplot)`);
    return;
  }
  const http = ctx.http;
  http?.setHeader("Content-Type", asset.contentType);
  http?.setHeader("X-Content-Type-Options", "nosniff");
  http?.setHeader("Cache-Control", "public, max-age=3600");
  ctx.responseAttachment = body;
  ctx.responseCompressType = CompressType.GZIP;
}

/** `/favicon.ico`. */
export function faviconService(ctx: ServerContext): void {
  ctx.http?.setHeader("Content-Type", "image/svg+xml");
  ctx.http?.setHeader("X-Content-Type-Options", "nosniff");
  ctx.http?.setHeader("Cache-Control", "public, max-age=86400");
  ctx.responseAttachment = FAVICON_SVG;
}
