/** Page paths that code outside the route table needs too (the boot script). */
export const CAMERA_PAGE_PATH = '/cameras/:id';
export const SHARE_PAGE_PATH = '/s/:shareId';
