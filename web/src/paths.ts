/** Page paths that code outside the route table needs too (the boot script). */
export const CAMERA_PAGE_PATH = '/cameras/:id';
