/**
 * `/docs` (the interactive page, no CDN) and `/openapi.json`, generated from the same route
 * definitions the app serves, so they list every route.
 */
import { docsHtml } from '../docs-page.js';
import type { OpenApiDocument } from '../openapi.js';
import type { RouteSpec } from '../route.js';

export function docsRoutes(openApi: () => OpenApiDocument, title: string): RouteSpec[] {
  let page: string | undefined;
  return [
    {
      method: 'GET',
      path: '/docs',
      summary: 'Interactive API documentation',
      tags: ['docs'],
      public: true,
      errors: 'openai',
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handler: (c) => c.html((page ??= docsHtml({ title, specUrl: './openapi.json' }))),
    },
    {
      method: 'GET',
      path: '/openapi.json',
      summary: 'OpenAPI 3.1 description of every route',
      tags: ['docs'],
      public: true,
      errors: 'openai',
      responses: { 200: { description: 'OpenAPI document' } },
      handler: (c) => c.json(openApi()),
    },
  ];
}
