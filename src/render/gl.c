/* An offscreen OpenGL context without a display, from Mesa: OSMesa (a
 * software context drawing into client memory) or EGL with the surfaceless
 * platform. The libraries are opened with dlopen(RTLD_GLOBAL) here, never
 * linked: the mtrl binary starts without them, and MuJoCo's GL loader
 * (mjr_makeContext) then finds OSMesaGetProcAddress / eglGetProcAddress among
 * the loaded symbols. MuJoCo renders into its own framebuffer object
 * (mjFB_OFFSCREEN), so the OSMesa buffer is only a token 16 x 16. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GL/osmesa.h>

#include "render/render_impl.h"

#define OSMESA_BUF 16

struct render_gl {
    const char *backend;
    /* OSMesa */
    void *osmesa_ctx;
    unsigned char *osmesa_buf;
    void (*osmesa_destroy)(OSMesaContext);
    /* EGL */
    EGLDisplay egl_dpy;
    EGLContext egl_ctx;
    EGLBoolean (*egl_make_current)(EGLDisplay, EGLSurface, EGLSurface, EGLContext);
    EGLBoolean (*egl_destroy_context)(EGLDisplay, EGLContext);
    EGLBoolean (*egl_terminate)(EGLDisplay);
};

/* Libraries stay loaded for the life of the process: MuJoCo keeps the GL
 * function pointers it resolved, and a second context reuses them. */
static void *open_first(const char *const *names, char *why, size_t cap)
{
    why[0] = '\0';
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (h)
            return h;
        if (!why[0])
            snprintf(why, cap, "%s", dlerror());
    }
    return NULL;
}

static int try_osmesa(render_gl *g, char *why, size_t cap)
{
    static const char *const libs[] = {"libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so", NULL};
    char err[512];
    void *h = open_first(libs, err, sizeof err);
    if (!h) {
        snprintf(why, cap, "cannot load libOSMesa (Debian package libosmesa6): %s", err);
        return -1;
    }
    OSMesaContext (*create)(GLenum, GLint, GLint, GLint, OSMesaContext) =
        (OSMesaContext(*)(GLenum, GLint, GLint, GLint, OSMesaContext))dlsym(h, "OSMesaCreateContextExt");
    GLboolean (*make_current)(OSMesaContext, void *, GLenum, GLsizei, GLsizei) =
        (GLboolean(*)(OSMesaContext, void *, GLenum, GLsizei, GLsizei))dlsym(h, "OSMesaMakeCurrent");
    g->osmesa_destroy = (void (*)(OSMesaContext))dlsym(h, "OSMesaDestroyContext");
    if (!create || !make_current || !g->osmesa_destroy) {
        snprintf(why, cap, "libOSMesa lacks OSMesaCreateContextExt/OSMesaMakeCurrent");
        return -1;
    }
    OSMesaContext ctx = create(OSMESA_RGBA, 24, 8, 0, NULL);
    if (!ctx) {
        snprintf(why, cap, "OSMesaCreateContextExt(RGBA, depth 24, stencil 8) failed");
        return -1;
    }
    g->osmesa_buf = calloc(OSMESA_BUF * OSMESA_BUF, 4);
    if (!g->osmesa_buf || !make_current(ctx, g->osmesa_buf, GL_UNSIGNED_BYTE, OSMESA_BUF, OSMESA_BUF)) {
        g->osmesa_destroy(ctx);
        free(g->osmesa_buf);
        g->osmesa_buf = NULL;
        snprintf(why, cap, "OSMesaMakeCurrent failed");
        return -1;
    }
    g->osmesa_ctx = ctx;
    g->backend = "OSMesa";
    return 0;
}

static int try_egl(render_gl *g, char *why, size_t cap)
{
    static const char *const libs[] = {"libEGL.so.1", "libEGL.so", NULL};
    char err[512];
    void *h = open_first(libs, err, sizeof err);
    if (!h) {
        snprintf(why, cap, "cannot load libEGL (Debian packages libegl1 libegl-mesa0): %s", err);
        return -1;
    }
#define EGL_SYM(type, name) type name = (type)dlsym(h, #name)
    EGL_SYM(PFNEGLGETPROCADDRESSPROC, eglGetProcAddress);
    EGL_SYM(PFNEGLINITIALIZEPROC, eglInitialize);
    EGL_SYM(PFNEGLCHOOSECONFIGPROC, eglChooseConfig);
    EGL_SYM(PFNEGLBINDAPIPROC, eglBindAPI);
    EGL_SYM(PFNEGLCREATECONTEXTPROC, eglCreateContext);
    EGL_SYM(PFNEGLGETERRORPROC, eglGetError);
#undef EGL_SYM
    g->egl_make_current = (PFNEGLMAKECURRENTPROC)dlsym(h, "eglMakeCurrent");
    g->egl_destroy_context = (PFNEGLDESTROYCONTEXTPROC)dlsym(h, "eglDestroyContext");
    g->egl_terminate = (PFNEGLTERMINATEPROC)dlsym(h, "eglTerminate");
    if (!eglGetProcAddress || !eglInitialize || !eglChooseConfig || !eglBindAPI ||
        !eglCreateContext || !eglGetError || !g->egl_make_current || !g->egl_destroy_context ||
        !g->egl_terminate) {
        snprintf(why, cap, "libEGL lacks core EGL 1.4 functions");
        return -1;
    }
    PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
        (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
    if (!get_display) {
        snprintf(why, cap, "EGL has no eglGetPlatformDisplayEXT (EGL_EXT_platform_base)");
        return -1;
    }
    EGLDisplay dpy = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
    EGLint major, minor;
    if (dpy == EGL_NO_DISPLAY || !eglInitialize(dpy, &major, &minor)) {
        snprintf(why, cap, "no EGL display on the surfaceless platform (EGL error 0x%x; "
                           "Debian package libegl-mesa0)", (unsigned)eglGetError());
        return -1;
    }
    /* The default surface type is a window, which the surfaceless platform
     * has none of: ask for pbuffer-capable configs (Mesa offers those). */
    static const EGLint attrs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8,
                                   EGL_ALPHA_SIZE, 8, EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8,
                                   EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
    EGLConfig cfg;
    EGLint n = 0;
    if (!eglChooseConfig(dpy, attrs, &cfg, 1, &n) || n < 1) {
        g->egl_terminate(dpy);
        snprintf(why, cap, "EGL has no RGBA8 / depth 24 OpenGL config (EGL error 0x%x)",
                 (unsigned)eglGetError());
        return -1;
    }
    if (!eglBindAPI(EGL_OPENGL_API)) {
        g->egl_terminate(dpy);
        snprintf(why, cap, "eglBindAPI(EGL_OPENGL_API) failed (EGL error 0x%x)",
                 (unsigned)eglGetError());
        return -1;
    }
    EGLContext ctx = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, NULL);
    if (ctx == EGL_NO_CONTEXT) {
        g->egl_terminate(dpy);
        snprintf(why, cap, "eglCreateContext failed (EGL error 0x%x)", (unsigned)eglGetError());
        return -1;
    }
    if (!g->egl_make_current(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
        g->egl_destroy_context(dpy, ctx);
        g->egl_terminate(dpy);
        snprintf(why, cap, "eglMakeCurrent without a surface failed (EGL error 0x%x)",
                 (unsigned)eglGetError());
        return -1;
    }
    g->egl_dpy = dpy;
    g->egl_ctx = ctx;
    g->backend = "EGL (surfaceless)";
    return 0;
}

int render_gl_create(render_gl **out, mtrl_err *err)
{
    *out = NULL;
    const char *only = getenv("MTRL_GL");
    if (only && *only && strcmp(only, "osmesa") && strcmp(only, "egl"))
        return err_set(err, MTRL_EINPUT, "MTRL_GL=%s: expected osmesa or egl", only);
    const char *fail = getenv("MTRL_RENDER_FAIL");
    int forced = fail && *fail && strcmp(fail, "0");
    render_gl *g = calloc(1, sizeof *g);
    if (!g)
        return err_set(err, MTRL_ENOMEM, "out of memory");
    char why_os[600] = "not tried (MTRL_GL)", why_egl[600] = "not tried (MTRL_GL)";
    int ok = 0;
    if (!only || !*only || !strcmp(only, "osmesa")) {
        if (forced)
            snprintf(why_os, sizeof why_os, "forced to fail by MTRL_RENDER_FAIL=%s", fail);
        else
            ok = try_osmesa(g, why_os, sizeof why_os) == 0;
    }
    if (!ok && (!only || !*only || !strcmp(only, "egl"))) {
        if (forced)
            snprintf(why_egl, sizeof why_egl, "forced to fail by MTRL_RENDER_FAIL=%s", fail);
        else
            ok = try_egl(g, why_egl, sizeof why_egl) == 0;
    }
    if (!ok) {
        free(g);
        return err_set(err, MTRL_ERUNTIME,
                       "no offscreen OpenGL context could be created; tried OSMesa: %s; "
                       "tried EGL (surfaceless platform): %s. Install libosmesa6 or "
                       "libegl1 + libegl-mesa0 (tools/deps install)",
                       why_os, why_egl);
    }
    *out = g;
    return 0;
}

void render_gl_destroy(render_gl *g)
{
    if (!g)
        return;
    if (g->osmesa_ctx)
        g->osmesa_destroy((OSMesaContext)g->osmesa_ctx);
    if (g->egl_ctx) {
        g->egl_make_current(g->egl_dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
        g->egl_destroy_context(g->egl_dpy, g->egl_ctx);
        g->egl_terminate(g->egl_dpy);
    }
    free(g->osmesa_buf);
    free(g);
}

const char *render_gl_backend(const render_gl *g)
{
    return g->backend;
}
